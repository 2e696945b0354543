//! `cruddur`: the operator command. Replaces the original project's table,
//! seed, scan, access-pattern and Cognito scripts, on top of the core crate.
//!
//! Targets the local engines by default (DynamoDB: `AWS_ENDPOINT_URL_DYNAMODB`,
//! else `AWS_ENDPOINT_URL`, else `http://localhost:8000`; Cognito:
//! `AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER`, else `AWS_ENDPOINT_URL`, else
//! `http://localhost:9229`); `--prod` uses the normal AWS configuration with
//! no endpoint override. Destructive commands say what they touch, and refuse
//! to touch AWS without `--yes` (an endpoint on amazonaws.com counts as AWS).

mod cognito;
mod output;
mod realtime;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cruddur_core::domain::{GroupUuid, Handle, PageLimit, PageRequest, Timestamp};
use cruddur_core::store::{self, Usage, MESSAGES_TABLE};
use cruddur_core::{Config, Error, Store};
use cruddur_devkit::cognito as dev;
use cruddur_devkit::engines::{env_url, local_cognito, local_store, COGNITO_ENV, DYNAMODB_ENV};
use cruddur_devkit::seed::{self, SeedOptions};

use crate::output::{capacity_line, print_table, truncate};

#[derive(Parser)]
#[command(
    name = "cruddur",
    version,
    about = "Operate Cruddur messaging: its table, seed data, access patterns and Cognito users"
)]
struct Cli {
    /// Use AWS (the normal AWS configuration, no endpoint override) instead of the local server.
    #[arg(long, global = true)]
    prod: bool,
    /// The table [default: $DDB_MESSAGE_TABLE, else cruddur-messages].
    #[arg(long, global = true)]
    table: Option<String>,
    /// On failure, also print the underlying error.
    #[arg(long, short, global = true)]
    verbose: bool,
    /// Confirm a command that writes to AWS (required for every such command).
    #[arg(long, global = true)]
    yes: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the table from the core's definition (keys, index, billing). Local only: on AWS
    /// the template (sam deploy) owns the table, with its backups, encryption and protection.
    SchemaLoad,
    /// List the tables.
    ListTables,
    /// Delete a table (the configured one if none is named). On AWS, only with --yes.
    Drop { table: Option<String> },
    /// Write the mock users (andrewbrown, bayko, londo) and their message group. Idempotent.
    Seed {
        /// Also write N message groups between load users and andrewbrown.
        #[arg(long, default_value_t = 0)]
        count: u32,
        /// The fixture events/*.json run on: the seeded profiles get the
        /// sample events' uuids and Cognito subs, and the sample stream
        /// events' connection records are written.
        #[arg(long)]
        sample_events: bool,
    },
    /// Move a table of the shape before issue 26 (group rows under GRP#, one UNREAD item with a
    /// set, a local index; or sharded UNREAD totals) to today's (one CONV# item a message group,
    /// two list and two unread indexes). In place, or from --from TABLE into this one. Idempotent
    /// and resumable; run it while no message is being sent (docs/operations.md).
    Migrate {
        /// The table of the old shape (default: this one, in place).
        #[arg(long)]
        from: Option<String>,
    },
    /// Print every item of the table (a Scan).
    Scan {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One message group's latest messages, oldest first, with the read capacity consumed.
    /// Also `get-conversation` (the original scripts' name).
    #[command(alias = "get-conversation")]
    ListMessages {
        message_group_uuid: String,
        #[arg(long, default_value_t = 20)]
        limit: u8,
    },
    /// One user's message groups, newest first, with the read capacity consumed.
    /// Also `list-conversations` (the original scripts' name).
    #[command(alias = "list-conversations")]
    ListMessageGroups {
        handle: String,
        #[arg(long, default_value_t = 20)]
        limit: u8,
    },
    /// Cognito user pool commands.
    #[command(subcommand)]
    Cognito(cognito::CognitoCommand),
    /// Realtime delivery: what it gave up on.
    #[command(subcommand)]
    Realtime(realtime::RealtimeCommand),
    /// Local stack only: table, user pool and app client, seed users (profiles through
    /// PostConfirmation), the seeded message group; writes DIR/dev.env and DIR/frontend.env.
    DevSetup {
        #[arg(long, default_value = ".local")]
        dir: std::path::PathBuf,
        /// The local API's URL, for the frontend's settings.
        #[arg(long, default_value = "http://localhost:4567")]
        api_url: String,
    },
    /// Print an access token for a user of the local pool (a seed user's handle, or an email).
    Token {
        who: String,
        #[arg(long, env = "CRUDDUR_CLIENT_ID", value_delimiter = ',', required = true)]
        client_id: Vec<String>,
        #[arg(long, default_value = dev::LOCAL_PASSWORD)]
        password: String,
        /// Print the ID token instead (the API refuses it; for trying that).
        #[arg(long)]
        id_token: bool,
    },
}

/// Why a command failed: one sentence for people, the cause for --verbose.
pub struct Failure {
    pub message: String,
    pub cause: Option<String>,
    pub code: u8,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Self {
        Failure { message: message.into(), cause: None, code: 1 }
    }
}

/// Whether `url`'s host is one of AWS's (`*.amazonaws.com`, `*.amazonaws.com.cn`).
fn is_aws(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.split(':').next().unwrap_or_default().trim_end_matches('.').to_ascii_lowercase();
    host == "amazonaws.com" || host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn")
}

/// Commands that write to the table or the user pool. Every command is
/// named (no catch-all): a new one does not compile until it says whether
/// it writes, so none reaches AWS without `--yes` by omission.
fn writes(command: &Command) -> bool {
    use cognito::CognitoCommand;
    use realtime::RealtimeCommand;
    match command {
        Command::SchemaLoad | Command::Drop { .. } | Command::Migrate { .. } | Command::Seed { .. } => true,
        Command::DevSetup { .. } => true,
        Command::ListTables | Command::Scan { .. } | Command::ListMessages { .. } => false,
        Command::ListMessageGroups { .. } | Command::Token { .. } => false,
        Command::Cognito(c) => match c {
            CognitoCommand::SyncUsers { .. } | CognitoCommand::RepairUsers { .. } => true,
            CognitoCommand::ListUsers { .. } => false,
        },
        Command::Realtime(r) => match r {
            RealtimeCommand::Failures { .. } => false,
        },
    }
}

/// Seeding writes messages as the seed users; on AWS, a seed handle that
/// belongs to a real account (a profile linked to Cognito) must not be
/// written as.
async fn refuse_to_seed_as_real_users(target: &Target, store: &Store) -> Result<(), Failure> {
    for user in &seed::USERS {
        let Ok(handle) = Handle::parse(user.handle) else { continue };
        let Some(found) = store.user_by_handle(&handle).await.map_err(|e| target.failure(e))? else { continue };
        let profile = store.profile(found.uuid).await.map_err(|e| target.failure(e))?;
        if profile.is_some_and(|p| p.cognito_sub.is_some()) {
            return Err(Failure {
                message: format!(
                    "refusing to seed: the handle {} belongs to a real account on {} (its profile is linked to \
                     Cognito), and seeding would write messages as them",
                    user.handle,
                    target.describe()
                ),
                cause: None,
                code: 2,
            });
        }
    }
    Ok(())
}

/// Where commands go.
pub struct Target {
    pub prod: bool,
    /// The local DynamoDB (None: AWS).
    pub endpoint: Option<String>,
    /// The local Cognito (None: AWS).
    pub cognito_endpoint: Option<String>,
    pub config: Config,
}

impl Target {
    fn new(prod: bool, table: Option<String>) -> Result<Self, Failure> {
        let mut config = Config::from_env().map_err(|e| Failure::new(e.to_string()))?;
        if let Some(table) = table {
            config.table = table;
        }
        let (endpoint, cognito_endpoint) = if prod {
            // --prod means AWS itself: drop any endpoint override the
            // environment carries before the SDK reads it.
            for var in ["AWS_ENDPOINT_URL", DYNAMODB_ENV, COGNITO_ENV, realtime::SQS_ENV] {
                std::env::remove_var(var);
            }
            (None, None)
        } else {
            // The local engines scripts/dev starts: DynamoDB Local on 8000,
            // moto's Cognito on 9229, unless the environment names others.
            (
                Some(
                    env_url(&[DYNAMODB_ENV, "AWS_ENDPOINT_URL"]).unwrap_or_else(|| "http://localhost:8000".to_owned()),
                ),
                Some(env_url(&[COGNITO_ENV, "AWS_ENDPOINT_URL"]).unwrap_or_else(|| "http://localhost:9229".to_owned())),
            )
        };
        // An endpoint on AWS is AWS, whatever the flags say.
        let prod = prod || [&endpoint, &cognito_endpoint].into_iter().flatten().any(|url| is_aws(url));
        Ok(Target { prod, endpoint, cognito_endpoint, config })
    }

    /// The store of this target's table.
    pub async fn store(&self) -> Store {
        match &self.endpoint {
            Some(url) => local_store(&self.config, url).await,
            None => Store::from_config(&self.config).await,
        }
    }

    /// An SQS client for this target: AWS, or `AWS_ENDPOINT_URL_SQS`,
    /// else the local moto (which serves SQS too).
    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        match &self.cognito_endpoint {
            Some(moto) => {
                let url = env_url(&[realtime::SQS_ENV]).unwrap_or_else(|| moto.clone());
                aws_sdk_sqs::Client::new(&cruddur_devkit::engines::local_sdk_config(&self.config, &url).await)
            }
            None => aws_sdk_sqs::Client::new(&self.config.sdk_config().await),
        }
    }

    /// A Cognito client for this target.
    pub async fn cognito(&self) -> aws_sdk_cognitoidentityprovider::Client {
        match &self.cognito_endpoint {
            Some(url) => local_cognito(&self.config, url).await,
            None => aws_sdk_cognitoidentityprovider::Client::new(&self.config.sdk_config().await),
        }
    }

    pub fn describe(&self) -> String {
        match (&self.endpoint, self.prod) {
            (Some(url), false) => format!("the local server at {url}"),
            (Some(url), true) => format!("AWS at {url}"),
            (None, _) => "AWS".to_owned(),
        }
    }

    /// A core error as one sentence about this target.
    pub fn failure(&self, e: Error) -> Failure {
        let table = &self.config.table;
        let chain = e.chain();
        let (message, cause) = match e {
            Error::Unavailable { .. } => {
                let hint = if self.prod { "" } else { " (is it running? scripts/dev starts one)" };
                (format!("cannot reach DynamoDB on {}{hint}", self.describe()), Some(chain))
            }
            Error::Internal { .. } if chain.contains("ResourceNotFoundException") => (
                format!("there is no table {table} on {} (create it with `cruddur schema-load`)", self.describe()),
                Some(chain),
            ),
            Error::Internal { .. } => (format!("DynamoDB on {} refused the request", self.describe()), Some(chain)),
            other => (other.to_string(), None),
        };
        Failure { message, cause, code: 1 }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbose = cli.verbose;
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            if let (true, Some(cause)) = (verbose, &failure.cause) {
                eprintln!("cause: {cause}");
            }
            ExitCode::from(failure.code)
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let target = Target::new(cli.prod, cli.table)?;
    // Refuse before any connection is made.
    if target.prod {
        let refuse = |message: &str| Err(Failure { message: message.into(), cause: None, code: 2 });
        match &cli.command {
            Command::SchemaLoad => {
                return refuse(
                    "schema-load does not create tables on AWS: template.yaml owns the deployed table \
                     (point-in-time recovery, encryption, deletion protection); deploy with scripts/deploy",
                )
            }
            command if writes(command) && !cli.yes => {
                return refuse(
                    "refusing to change AWS without --yes (this command writes to or deletes real data; \
                     an endpoint on amazonaws.com counts as AWS)",
                )
            }
            _ => {}
        }
    }
    let store = target.store().await;
    if let (true, Command::Seed { .. }) = (target.prod, &cli.command) {
        refuse_to_seed_as_real_users(&target, &store).await?;
    }
    let table = target.config.table.clone();
    match cli.command {
        Command::SchemaLoad => match MESSAGES_TABLE.matches_existing(store.client(), &table).await {
            Ok(Some(true)) => {
                println!("table {table} already exists on {} with the expected keys and index", target.describe());
                Ok(())
            }
            Ok(Some(false)) => Err(Failure::new(format!(
                "table {table} exists on {} with other keys or indexes than this version expects; choose another --table",
                target.describe()
            ))),
            Ok(None) => {
                MESSAGES_TABLE.create(store.client(), &table).await.map_err(|e| target.failure(e))?;
                println!(
                    "created table {table} on {}: keys pk/sk, global indexes {}, on-demand billing",
                    target.describe(),
                    MESSAGES_TABLE.global_indexes.iter().map(|i| i.name).collect::<Vec<_>>().join(", ")
                );
                Ok(())
            }
            Err(e) => Err(target.failure(e)),
        },
        Command::ListTables => {
            let names = store::list_tables(store.client()).await.map_err(|e| target.failure(e))?;
            print_table(&["table"], names.into_iter().map(|n| vec![n]).collect());
            Ok(())
        }
        Command::Migrate { from } => {
            let source = Store::new(store.client().clone(), from.unwrap_or_else(|| table.clone()));
            let how = if source.table() == table { "in place".to_owned() } else { format!("from {}", source.table()) };
            println!("migrating table {table} on {} ({how})", target.describe());
            let report = store.migrate_from(&source).await.map_err(|e| target.failure(e))?;
            for index in &report.indexes_added {
                println!("added index {index}");
            }
            println!(
                "conversations: {} written, {} already there; other items copied: {} ({} already there); \
                 unread-index keys set: {}; old items removed: {}",
                report.conversations_created,
                report.conversations_present,
                report.items_copied,
                report.items_present,
                report.unread_keys_written,
                report.legacy_removed
            );
            for group in &report.incomplete_groups {
                println!("left as it was: message group {group} has no pair of rows naming each other");
            }
            println!("{}", if report.changed_anything() { "migrated" } else { "nothing to change" });
            Ok(())
        }
        Command::Drop { table: named } => {
            let name = named.unwrap_or(table);
            println!("dropping table {name} on {}", target.describe());
            match store::drop_table(store.client(), &name).await.map_err(|e| target.failure(e))? {
                true => {
                    println!("dropped table {name}");
                    Ok(())
                }
                false => Err(Failure::new(format!("there is no table {name} on {}", target.describe()))),
            }
        }
        Command::Seed { count, sample_events, .. } => {
            println!("seeding table {table} on {}", target.describe());
            let options = SeedOptions { extra_message_groups: count, link_sample_subs: sample_events };
            let bar = output::progress(seed::seed_steps(options), "seeding");
            let report = seed::seed(&store, Timestamp::now(), options, &|done| bar.set_position(done))
                .await
                .map_err(|e| target.failure(e))?;
            bar.finish_and_clear();
            print_table(
                &["", "created", "already there"],
                vec![
                    vec!["users".into(), report.users_created.to_string(), report.users_existing.to_string()],
                    vec![
                        "message groups".into(),
                        report.message_groups_created.to_string(),
                        report.message_groups_existing.to_string(),
                    ],
                    vec!["messages".into(), report.messages_written.to_string(), "-".into()],
                ],
            );
            if sample_events {
                println!("linked {} profile(s) to the sample events' Cognito subs", report.subs_linked);
                let connections =
                    seed::seed_sample_connections(&store, Timestamp::now()).await.map_err(|e| target.failure(e))?;
                println!("recorded {connections} connection(s) of the sample stream events");
            }
            Ok(())
        }
        Command::Scan { json } => {
            let mut items = store.scan_all().await.map_err(|e| target.failure(e))?;
            items.sort_by_key(|i| (i["pk"].as_str().unwrap_or("").to_owned(), i["sk"].as_str().unwrap_or("").to_owned()));
            if json {
                println!("{}", serde_json::Value::Array(items));
            } else {
                let count = items.len();
                let rows = items.into_iter().map(output::item_row).collect();
                print_table(&["pk", "sk", "attributes"], rows);
                println!("{count} item(s)");
            }
            Ok(())
        }
        Command::ListMessages { message_group_uuid, limit } => {
            let group = GroupUuid::parse(&message_group_uuid)
                .map_err(|_| Failure::new(format!("{message_group_uuid:?} is not a message group uuid")))?;
            let limit = PageLimit::new(limit).map_err(|e| Failure::new(e.to_string()))?;
            let (metered, meter) = store.metered();
            let page = metered.group_messages(group, PageRequest { limit, cursor: None }).await.map_err(|e| target.failure(e))?;
            let rows = page
                .items
                .iter()
                .map(|m| {
                    vec![
                        m.created_at.to_string(),
                        m.sender.handle.to_string(),
                        m.sender.display_name.to_string(),
                        truncate(m.content.as_str(), 70),
                    ]
                })
                .collect();
            print_table(&["created_at", "handle", "display_name", "message"], rows);
            footer(page.items.len(), page.next.is_some(), "older messages", meter.usage());
            Ok(())
        }
        Command::ListMessageGroups { handle, limit } => {
            let parsed = Handle::parse(&handle).map_err(|e| Failure::new(format!("{handle:?} is not a handle: {e}")))?;
            let limit = PageLimit::new(limit).map_err(|e| Failure::new(e.to_string()))?;
            let (metered, meter) = store.metered();
            let user = metered
                .user_by_handle(&parsed)
                .await
                .map_err(|e| target.failure(e))?
                .ok_or_else(|| Failure::new(format!("there is no user with handle {handle}")))?;
            let page = metered
                .list_message_groups(user.uuid, PageRequest { limit, cursor: None })
                .await
                .map_err(|e| target.failure(e))?;
            let unread = metered.unread_counts(user.uuid).await.map_err(|e| target.failure(e))?;
            let rows = page
                .items
                .iter()
                .map(|g| {
                    vec![
                        g.last_activity.at.to_string(),
                        g.other.handle.to_string(),
                        g.other.display_name.to_string(),
                        truncate(g.last_message.as_str(), 50),
                        g.unread.to_string(),
                        g.uuid.to_string(),
                    ]
                })
                .collect();
            print_table(
                &["last activity", "with", "display_name", "last message", "unread", "message_group_uuid"],
                rows,
            );
            println!(
                "{handle}: {} unread message(s) in {} message group(s) (GET /api/messages/counter)",
                unread.count, unread.conversations
            );
            footer(page.items.len(), page.next.is_some(), "older message groups", meter.usage());
            Ok(())
        }
        Command::Cognito(command) => cognito::run(command, &target, &store).await,
        Command::Realtime(command) => realtime::run(&target, command).await,
        Command::DevSetup { dir, api_url } => dev_setup(&target, &store, &dir, &api_url).await,
        Command::Token { who, client_id, password, id_token } => {
            let email = dev::email_of(&who)
                .ok_or_else(|| Failure::new(format!("{who} is not a seed user's handle; give an email instead")))?;
            let cognito = target.cognito().await;
            let client = client_id.first().map(String::as_str).unwrap_or_default();
            let tokens = dev::sign_in(&cognito, client, &email, &password).await.map_err(|cause| Failure {
                message: format!("cannot sign {email} in on {}", target.describe()),
                cause: Some(cause),
                code: 1,
            })?;
            println!("{}", if id_token { tokens.id_token } else { tokens.access_token });
            Ok(())
        }
    }
}

async fn dev_setup(target: &Target, store: &Store, dir: &std::path::Path, api_url: &str) -> Result<(), Failure> {
    let (Some(endpoint), Some(cognito_endpoint), false) =
        (target.endpoint.clone(), target.cognito_endpoint.clone(), target.prod)
    else {
        return Err(Failure::new("dev-setup sets up the local engines only; it never touches AWS"));
    };
    let cognito = target.cognito().await;
    let stack = dev::setup(&cognito, store, Timestamp::now()).await.map_err(|cause| Failure {
        message: format!("cannot set up {}", target.describe()),
        cause: Some(cause),
        code: 1,
    })?;
    let region = std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()).unwrap_or_else(|| "us-east-1".into());
    let table = store.table();
    let dev_env = format!(
        "AWS_ENDPOINT_URL_DYNAMODB={endpoint}\nAWS_ENDPOINT_URL_DYNAMODB_STREAMS={endpoint}\n\
         AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER={cognito_endpoint}\n\
         AWS_REGION={region}\nAWS_ACCESS_KEY_ID=local\nAWS_SECRET_ACCESS_KEY=local\n\
         DDB_MESSAGE_TABLE={table}\nCRUDDUR_USER_POOL_ID={}\nCRUDDUR_CLIENT_ID={}\n",
        stack.pool_id, stack.client_id
    );
    let frontend_env = format!(
        "REACT_APP_BACKEND_URL={api_url}\nREACT_APP_AWS_PROJECT_REGION={region}\nREACT_APP_AWS_COGNITO_REGION={region}\n\
         REACT_APP_AWS_USER_POOLS_ID={}\nREACT_APP_CLIENT_ID={}\nREACT_APP_AWS_COGNITO_ENDPOINT={cognito_endpoint}\n",
        stack.pool_id, stack.client_id
    );
    let write = |name: &str, text: &str| {
        std::fs::create_dir_all(dir)
            .and_then(|_| std::fs::write(dir.join(name), text))
            .map_err(|e| Failure::new(format!("cannot write {}: {e}", dir.join(name).display())))
    };
    write("dev.env", &dev_env)?;
    write("frontend.env", &frontend_env)?;
    println!(
        "local stack ready on {}: table {table}, user pool {}, app client {}",
        target.describe(),
        stack.pool_id,
        stack.client_id
    );
    print_table(
        &["handle", "sign in with (email)", "password", "Cognito sub"],
        stack
            .users
            .iter()
            .map(|(h, e, s)| vec![h.clone(), e.clone(), dev::LOCAL_PASSWORD.to_owned(), s.clone()])
            .collect(),
    );
    println!("wrote {} and {}", dir.join("dev.env").display(), dir.join("frontend.env").display());
    Ok(())
}

fn footer(shown: usize, more: bool, what: &str, usage: Usage) {
    if more {
        println!("{shown} shown; {what} exist (raise --limit)");
    } else {
        println!("{shown} shown");
    }
    println!("{}", capacity_line(usage));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On AWS, seeding refuses when a seed handle belongs to a real account
    /// (here: the seed profiles linked to Cognito subs), before writing.
    #[tokio::test(flavor = "multi_thread")]
    async fn seeding_aws_refuses_to_write_as_a_real_account() {
        let store = cruddur_devkit::fixtures::fresh_store().await;
        let target = |prod| Target {
            prod,
            endpoint: Some(cruddur_devkit::engines::dynamodb_endpoint()),
            cognito_endpoint: None,
            config: Config { table: store.table().to_owned(), ..Config::default() },
        };
        // Seed profiles nobody signed in with: seeding again is fine.
        let plain = SeedOptions { extra_message_groups: 0, link_sample_subs: false };
        seed::seed(&store, Timestamp::now(), plain, &|_| {}).await.unwrap();
        assert!(refuse_to_seed_as_real_users(&target(true), &store).await.is_ok());
        // Once andrewbrown is a real account (linked to Cognito), it is not.
        let linked = SeedOptions { extra_message_groups: 0, link_sample_subs: true };
        seed::seed(&store, Timestamp::now(), linked, &|_| {}).await.unwrap();
        let refused = refuse_to_seed_as_real_users(&target(true), &store).await.expect_err("refused");
        assert_eq!(refused.code, 2);
        assert!(refused.message.contains("belongs to a real account"), "{}", refused.message);
    }

    #[test]
    fn endpoints_on_amazonaws_com_are_aws() {
        for url in [
            "https://dynamodb.us-east-1.amazonaws.com",
            "https://cognito-idp.eu-west-1.amazonaws.com/",
            "http://DYNAMODB.US-EAST-1.AMAZONAWS.COM:443/x",
            "https://user@dynamodb.cn-north-1.amazonaws.com.cn",
            "dynamodb.us-east-1.amazonaws.com.",
        ] {
            assert!(is_aws(url), "{url}");
        }
        for url in [
            "http://localhost:8000",
            "http://127.0.0.1:9229",
            "https://amazonaws.com.evil.example",
            "http://notamazonaws.com",
        ] {
            assert!(!is_aws(url), "{url}");
        }
    }
}
