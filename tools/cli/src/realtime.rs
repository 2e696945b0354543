//! `cruddur realtime ...`: what realtime delivery gave up on. The stream
//! mapping's on-failure destination (template.yaml's `DeliveryFailures`
//! queue, the stack output `DeliveryFailuresQueueUrl`) receives a record
//! for each batch Lambda stopped retrying: its shard and sequence numbers,
//! never a message's content. This reads the queue without consuming it.

use clap::Subcommand;

use crate::{Failure, Target};

#[derive(Subcommand)]
pub enum RealtimeCommand {
    /// How many stream batches realtime delivery gave up on are waiting in its failures queue,
    /// and (with --show N) the first N of them, left in the queue.
    Failures {
        /// The queue's URL (the stack output DeliveryFailuresQueueUrl).
        #[arg(long, env = "CRUDDUR_DELIVERY_FAILURES_QUEUE_URL")]
        queue_url: String,
        /// Also print up to N of the waiting records (at most 10).
        #[arg(long, default_value_t = 0)]
        show: u8,
    },
}

/// The environment variable that points the SQS client at a local stand-in
/// (moto serves SQS as well as Cognito); unset, the local Cognito's moto.
pub const SQS_ENV: &str = "AWS_ENDPOINT_URL_SQS";

pub async fn run(target: &Target, command: RealtimeCommand) -> Result<(), Failure> {
    match command {
        RealtimeCommand::Failures { queue_url, show } => failures(target, &queue_url, show).await,
    }
}

async fn failures(target: &Target, queue_url: &str, show: u8) -> Result<(), Failure> {
    let sqs = target.sqs().await;
    let failed = |what: &str, e: &dyn std::fmt::Display| Failure {
        message: format!("cannot {what} the failures queue {queue_url}"),
        cause: Some(e.to_string()),
        code: 1,
    };
    use aws_sdk_sqs::types::QueueAttributeName;
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| failed("read", &aws_sdk_sqs::error::DisplayErrorContext(e)))?;
    let count = |name: QueueAttributeName| {
        attributes.attributes().and_then(|a| a.get(&name)).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
    };
    let waiting = count(QueueAttributeName::ApproximateNumberOfMessages);
    let in_flight = count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible);
    println!("{waiting} failed stream batches waiting ({in_flight} being read) in {queue_url}");
    if show > 0 && waiting > 0 {
        // Visibility 0: looked at, left for whoever handles them.
        let received = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(i32::from(show.min(10)))
            .visibility_timeout(0)
            .send()
            .await
            .map_err(|e| failed("read", &aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        for message in received.messages() {
            println!("{}", message.body().unwrap_or_default());
        }
    }
    Ok(())
}
