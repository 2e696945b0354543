//! Micro-benchmarks of the core's hot paths, so a regression shows in
//! nanoseconds: `cargo bench -p cruddur-bench`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use cruddur_core::api::{new_message, MessageJson};
use cruddur_core::domain::{
    Content, Cursor, DisplayName, GroupUuid, Handle, Message, MessageText, MessageUuid, Timestamp, UserSummary,
    UserUuid,
};
use cruddur_core::store::codec;
use lambda_http::Body;

fn message(i: usize) -> Message {
    Message {
        uuid: MessageUuid::random(),
        group: GroupUuid::random(),
        sender: UserSummary {
            uuid: UserUuid::random(),
            handle: Handle::parse("andrewbrown").unwrap(),
            display_name: DisplayName::parse("Andrew Brown").unwrap(),
        },
        content: Content::Text(
            MessageText::parse(&format!("message number {i}, of a typical length for a chat")).unwrap(),
        ),
        edited_at: None,
        created_at: Timestamp::now(),
    }
}

fn parsing(c: &mut Criterion) {
    let event = cruddur_devkit::events::sample_text("list-messages.json");
    c.bench_function("lambda_http event -> Request (list-messages.json)", |b| {
        b.iter(|| lambda_http::request::from_str(black_box(event)).unwrap())
    });
    let body = Body::Text(
        r#"{"message":"See you at the conference!","message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399"}"#
            .into(),
    );
    c.bench_function("create-message body -> NewMessage", |b| b.iter(|| new_message(black_box(&body)).unwrap()));
    let long = "é".repeat(1024);
    c.bench_function("MessageText::parse, 1024 chars", |b| b.iter(|| MessageText::parse(black_box(&long)).unwrap()));
    let cursor = Cursor::Messages { group: GroupUuid::random(), before: message(0).key() }.encode();
    c.bench_function("Cursor::decode", |b| b.iter(|| Cursor::decode(black_box(&cursor)).unwrap()));
}

fn mapping(c: &mut Criterion) {
    let m = message(1);
    c.bench_function("Message -> DynamoDB item", |b| b.iter(|| codec::message_to_item(black_box(&m)).unwrap()));
    let item = codec::message_to_item(&m).unwrap();
    c.bench_function("DynamoDB item -> Message", |b| {
        b.iter(|| codec::message_from_item(black_box(item.clone())).unwrap())
    });
}

fn serialising(c: &mut Criterion) {
    let page: Vec<Message> = (0..20).map(message).collect();
    c.bench_function("20 messages -> response JSON", |b| {
        b.iter(|| {
            let json: Vec<MessageJson> = black_box(&page).iter().map(MessageJson::from).collect();
            serde_json::to_string(&json).unwrap()
        })
    });
}

criterion_group!(benches, parsing, mapping, serialising);
criterion_main!(benches);
