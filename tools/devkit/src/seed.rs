//! Mock data for local development, demos and load tests, written through the
//! store's own operations so it is exactly what the functions would write.
//! Idempotent: running it again adds nothing.
//!
//! The sample events in `events/` name these users (by their sample Cognito
//! subs) and this message group (by its uuid).

use cruddur_core::domain::{
    CognitoSub, ConnectionId, DisplayName, Email, GroupUuid, Handle, MessageText, MessageUuid, NewProfile, Timestamp,
    UserSummary, UserUuid,
};
use cruddur_core::store::{LinkOutcome, Store};
use cruddur_core::{Error, Result};

/// A seeded person.
#[derive(Debug, Clone, Copy)]
pub struct SeedUser<'a> {
    pub handle: &'a str,
    pub display_name: &'a str,
    pub email: &'a str,
    /// The Cognito sub the sample events' claims carry.
    pub sample_sub: &'a str,
    /// The uuid the sample events name the user by (`user_uuid` in the
    /// authorizer's context and the stream records); empty: a random one.
    pub sample_uuid: &'a str,
}

pub const ANDREW: SeedUser<'static> = SeedUser {
    handle: "andrewbrown",
    display_name: "Andrew Brown",
    email: "andrew@example.com",
    sample_sub: "8d6a3f1e-2b4c-4d5e-9f60-7a8b9c0d1e2f",
    sample_uuid: "0b5f6a52-3c1d-4e8f-9a7b-6c5d4e3f2a10",
};
pub const BAYKO: SeedUser<'static> = SeedUser {
    handle: "bayko",
    display_name: "Andrew Bayko",
    email: "bayko@example.com",
    sample_sub: "3f2e1d0c-9b8a-4765-8432-10fedcba9876",
    sample_uuid: "6a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d",
};
pub const LONDO: SeedUser<'static> = SeedUser {
    handle: "londo",
    display_name: "Londo Mollari",
    email: "londo@example.com",
    sample_sub: "c0ffee00-1234-4abc-8def-0123456789ab",
    sample_uuid: "9d8c7b6a-5f4e-4d3c-9b2a-1f0e9d8c7b6a",
};
pub const USERS: [SeedUser<'static>; 3] = [ANDREW, BAYKO, LONDO];

/// The andrewbrown-bayko message group.
pub const MESSAGE_GROUP_UUID: &str = "5ae290ed-55d1-47a0-bc6d-fe2bc2700399";

/// The message group, oldest first: (sender is andrewbrown, text).
pub const MESSAGES: &[(bool, &str)] = &[
    (true, "Have you ever watched Babylon 5?"),
    (false, "Yes, I have! I love it!"),
    (true, "What's your favourite season?"),
    (false, "Season 2, when the Shadows arrive. Yours?"),
    (true, "Season 3. The writing is at its best there."),
    (false, "Fair. The Londo and G'Kar arc carries the whole show."),
    (true, "Their last scene together still gets me."),
    (false, "Did you know it was planned as a five-year story from the start?"),
    (true, "I did. Rare for television in the nineties."),
    (false, "And it mostly survived the network changes."),
    (true, "Season 5 feels different though."),
    (false, "Because the Shadow War wrapped up early, when cancellation looked likely."),
    (true, "That explains the pacing."),
    (false, "Still, Byron's arc has its moments."),
    (true, "Some of them. The telepath plot is uneven."),
    (false, "Agreed. The finale makes up for it."),
    (true, "Sleeping in Light is one of the best finales ever made."),
    (false, "It was filmed at the end of season 4, just in case."),
    (true, "Smart move."),
    (false, "Have you seen Crusade, the spin-off?"),
    (true, "Only a few episodes. It ended too soon."),
    (false, "Worth watching for what it could have been."),
    (true, "I'll give it a try this weekend."),
    (false, "Let me know what you think!"),
];

/// Minutes between seeded messages, so they spread over the past hours.
const MINUTES_APART: i64 = 7;

#[derive(Debug, Clone, Copy, Default)]
pub struct SeedOptions {
    /// Also write this many extra message groups (load users with andrewbrown).
    pub extra_message_groups: u32,
    /// The sample events' fixture: the seeded profiles get the sample
    /// events' uuids and are linked to their Cognito subs.
    pub link_sample_subs: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub users_created: u32,
    pub users_existing: u32,
    pub message_groups_created: u32,
    pub message_groups_existing: u32,
    pub messages_written: u32,
    pub subs_linked: u32,
}

fn parse_err(what: &str) -> Error {
    Error::internal(format!("seed data does not parse: {what}"))
}

fn text(s: &str) -> Result<MessageText> {
    MessageText::parse(s).map_err(|_| parse_err(s))
}

fn at(now: Timestamp, minutes_ago: i64) -> Result<Timestamp> {
    Timestamp::from_unix_micros(now.unix_micros() - minutes_ago * 60_000_000).ok_or_else(|| parse_err("time"))
}

/// The profile with this handle, created if missing (with the user's
/// `sample_uuid` when `sample` and it has one). `true` if created.
pub async fn ensure_user(store: &Store, user: &SeedUser<'_>, now: Timestamp) -> Result<(UserSummary, bool)> {
    ensure_user_as(store, user, now, false).await
}

async fn ensure_user_as(
    store: &Store,
    user: &SeedUser<'_>,
    now: Timestamp,
    sample: bool,
) -> Result<(UserSummary, bool)> {
    let handle = Handle::parse(user.handle).map_err(|_| parse_err(user.handle))?;
    if let Some(existing) = store.user_by_handle(&handle).await? {
        return Ok((existing, false));
    }
    let new = NewProfile {
        handle: handle.clone(),
        display_name: DisplayName::parse(user.display_name).map_err(|_| parse_err(user.display_name))?,
        email: Email::parse(user.email).map_err(|_| parse_err(user.email))?,
        cognito_sub: None,
    };
    let created = if sample && !user.sample_uuid.is_empty() {
        let uuid = UserUuid::parse(user.sample_uuid).map_err(|_| parse_err(user.sample_uuid))?;
        store.create_profile_as(uuid, new, now).await
    } else {
        store.create_profile(new, now).await
    };
    match created {
        Ok(profile) => Ok((profile.summary(), true)),
        // Created concurrently by someone else: use theirs.
        Err(Error::HandleTaken) => {
            let existing = store.user_by_handle(&handle).await?;
            Ok((existing.ok_or_else(|| Error::internal("a taken handle has no user"))?, false))
        }
        Err(e) => Err(e),
    }
}

/// In the sample events' fixture, the message group's history ends at this
/// time (not at the seed's) and each message has a uuid that carries its
/// time ([`sample_message_uuid`]), so the edit and delete events can name one.
pub const SAMPLE_HISTORY_END: &str = "2026-11-24T09:00:00.000000Z";

/// The uuid of the `n`-th message (0: the oldest) of the sample events'
/// fixture: a UUIDv7 of its time with fixed bits.
pub fn sample_message_uuid(n: usize) -> Result<(MessageUuid, Timestamp)> {
    let end = Timestamp::parse(SAMPLE_HISTORY_END).map_err(|_| parse_err(SAMPLE_HISTORY_END))?;
    let when = at(end, (MESSAGES.len() - 1 - n) as i64 * MINUTES_APART)?;
    let (millis, micros) = (when.unix_micros() / 1000, when.unix_micros() % 1000);
    let text = format!(
        "{:08x}-{:04x}-7{:03x}-85a0-{:012x}",
        millis >> 16,
        millis & 0xffff,
        micros,
        0xc0ff_ee00_0000_u64 + n as u64
    );
    let uuid = MessageUuid::parse(&text).map_err(|_| parse_err(&text))?;
    Ok((uuid, when))
}

/// A message group of `lines` between `a` and `b` in group `group`, the last
/// line at `now`. Skipped (returns 0) when `a` is already in that group.
async fn ensure_message_group(
    store: &Store,
    group: GroupUuid,
    a: &UserSummary,
    b: &UserSummary,
    lines: &[(bool, &str)],
    now: Timestamp,
    named: bool,
) -> Result<u32> {
    if store.message_group(a.uuid, group).await?.is_some() {
        return Ok(0);
    }
    let count = lines.len() as i64;
    let mut written = 0;
    for (i, (from_a, line)) in lines.iter().enumerate() {
        let (sender, other) = if *from_a { (a, b) } else { (b, a) };
        let when = at(now, (count - 1 - i as i64) * MINUTES_APART)?;
        if named {
            let (uuid, when) = sample_message_uuid(i)?;
            if i == 0 {
                store.start_message_group_as(group, uuid, sender, &other.handle, text(line)?, when).await?;
            } else {
                store.send_reply_as(sender, group, text(line)?, uuid, when).await?;
            }
        } else if i == 0 {
            store.start_message_group_in(group, sender, &other.handle, text(line)?, when).await?;
        } else {
            store.send_reply(sender, group, text(line)?, when).await?;
        }
        written += 1;
    }
    Ok(written)
}

/// The group uuid of the n-th load message group (deterministic, so a second
/// run finds it).
pub fn load_group(n: u32) -> GroupUuid {
    GroupUuid::from(uuid::Uuid::from_u128(0x10ad_0000_0000_4000_8000_0000_0000_0000 | u128::from(n)))
}

/// Writes the seed data; `progress` is called with the number of steps done
/// (one per user, per message group) out of [`seed_steps`].
pub async fn seed(store: &Store, now: Timestamp, options: SeedOptions, progress: &dyn Fn(u64)) -> Result<SeedReport> {
    let mut report = SeedReport::default();
    let mut step = 0u64;
    let mut seeded = Vec::new();
    for user in &USERS {
        let (summary, created) = ensure_user_as(store, user, now, options.link_sample_subs).await?;
        if created {
            report.users_created += 1;
        } else {
            report.users_existing += 1;
        }
        if options.link_sample_subs {
            let sub = CognitoSub::parse(user.sample_sub).map_err(|_| parse_err(user.sample_sub))?;
            if store.link_cognito_sub(summary.uuid, &sub).await? == LinkOutcome::Linked {
                report.subs_linked += 1;
            }
        }
        seeded.push(summary);
        step += 1;
        progress(step);
    }
    let (andrew, bayko) = (&seeded[0], &seeded[1]);
    let group = GroupUuid::parse(MESSAGE_GROUP_UUID).map_err(|_| parse_err(MESSAGE_GROUP_UUID))?;
    tally(
        &mut report,
        ensure_message_group(store, group, andrew, bayko, MESSAGES, now, options.link_sample_subs).await?,
    );
    step += 1;
    progress(step);

    for n in 1..=options.extra_message_groups {
        let handle = format!("load{n:05}");
        let name = format!("Load User {n}");
        let email = format!("{handle}@example.com");
        let user = SeedUser { handle: &handle, display_name: &name, email: &email, sample_sub: "", sample_uuid: "" };
        let (load_user, created) = ensure_user(store, &user, now).await?;
        if created {
            report.users_created += 1;
        } else {
            report.users_existing += 1;
        }
        let lines = [(true, "Hi Andrew, a question about the course."), (false, "Sure, ask away!"), (true, "Thanks!")];
        let when = at(now, i64::from(n))?;
        tally(&mut report, ensure_message_group(store, load_group(n), &load_user, andrew, &lines, when, false).await?);
        step += 1;
        progress(step);
    }
    Ok(report)
}

fn tally(report: &mut SeedReport, written: u32) {
    if written == 0 {
        report.message_groups_existing += 1;
    } else {
        report.message_groups_created += 1;
        report.messages_written += written;
    }
}

/// How many progress steps [`seed`] reports.
pub fn seed_steps(options: SeedOptions) -> u64 {
    USERS.len() as u64 + 1 + u64::from(options.extra_message_groups)
}

/// The sample stream events' connections: (user, connection id). A
/// connection whose id ends with [`GONE_SUFFIX`] is one its client has
/// left: the `@connections` stand-ins (`devkit::connections` in the tests,
/// `scripts/sam-local`'s) answer 410 for it. londo is in no group with the
/// sample messages' sender: his tab must get nothing.
pub const SAMPLE_CONNECTIONS: [(SeedUser<'static>, &str); 4] =
    [(ANDREW, "andrew-tab"), (BAYKO, "bayko-tab"), (BAYKO, "bayko-gone"), (LONDO, "londo-tab")];

/// See [`SAMPLE_CONNECTIONS`].
pub const GONE_SUFFIX: &str = "-gone";

/// Records [`SAMPLE_CONNECTIONS`] as opened a minute before `now` (old
/// enough that a 410 removes them; see `realtime::YOUNG_CONNECTION_SECS`).
/// Idempotent. Returns how many were written.
pub async fn seed_sample_connections(store: &Store, now: Timestamp) -> Result<u32> {
    let opened = at(now, 1)?;
    let mut written = 0;
    for (user, id) in SAMPLE_CONNECTIONS {
        let handle = Handle::parse(user.handle).map_err(|_| parse_err(user.handle))?;
        let owner = store.user_by_handle(&handle).await?.ok_or_else(|| parse_err("a seeded user is missing"))?;
        let id = ConnectionId::parse(id).map_err(|_| parse_err(id))?;
        store.add_connection(owner.uuid, &id, opened).await?;
        written += 1;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_messages_uuids_carry_their_times() {
        for n in 0..MESSAGES.len() {
            let (uuid, when) = sample_message_uuid(n).unwrap();
            assert_eq!(uuid.time(), Some(when), "{n}");
        }
        // What events/edit-message.json and the others name.
        let named: Vec<String> = (0..3).map(|n| sample_message_uuid(n).unwrap().0.to_string()).collect();
        assert_eq!(
            named,
            [
                "01a20c35-2820-7000-85a0-c0ffee000000",
                "01a20c3b-90c0-7000-85a0-c0ffee000001",
                "01a20c41-f960-7000-85a0-c0ffee000002"
            ]
        );
        assert!(MESSAGES[0].0 && !MESSAGES[1].0 && MESSAGES[2].0, "andrewbrown's, bayko's, andrewbrown's");
    }
}
