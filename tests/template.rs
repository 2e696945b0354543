//! `template.yaml` against the code: every function built and routed, the
//! table exactly the core's definition, IAM exactly what each function uses.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use cruddur_core::api::ROUTES;
use cruddur_core::realtime;
use cruddur_core::store::{
    GlobalIndex, LIST_A_INDEX, LIST_B_INDEX, MEMBER_A_INDEX, MEMBER_B_INDEX, MESSAGES_TABLE, UNREAD_A_INDEX,
    UNREAD_B_INDEX,
};
use serde_yaml_ng::Value;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn template() -> Value {
    let text = std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml");
    serde_yaml_ng::from_str(&text).expect("template.yaml is YAML")
}

fn resources(t: &Value) -> BTreeMap<String, Value> {
    t["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_owned(), v.clone()))
        .collect()
}

/// `!Ref X` / `!GetAtt X.Arn` as ("Ref", "X") / ("GetAtt", "X.Arn").
fn tag(v: &Value) -> Option<(String, String)> {
    match v {
        // `!Sub [text, {variables}]`: the text names the resource.
        Value::Tagged(t) => {
            let value = match &t.value {
                Value::Sequence(parts) => parts.first()?.as_str()?,
                one => one.as_str()?,
            };
            Some((t.tag.to_string().trim_start_matches('!').to_owned(), value.to_owned()))
        }
        _ => None,
    }
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Sequence(s) => s.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect(),
        Value::String(s) => vec![s.clone()],
        _ => vec![],
    }
}

/// Function folders under functions/ (each is also its binary's name).
fn function_folders() -> BTreeSet<String> {
    std::fs::read_dir(root().join("functions"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Function resources by the binary their build names.
fn functions_by_binary(t: &Value) -> BTreeMap<String, (String, Value)> {
    resources(t)
        .into_iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(name, r)| {
            assert_eq!(r["Metadata"]["BuildMethod"], "rust-cargolambda", "{name}");
            assert_eq!(r["Properties"]["CodeUri"], ".", "{name} builds from the workspace root");
            let binary = r["Metadata"]["BuildProperties"]["Binary"].as_str().expect("a Binary").to_owned();
            (binary, (name, r))
        })
        .collect()
}

#[test]
fn every_function_folder_has_a_resource_that_builds_its_binary() {
    let t = template();
    let folders = function_folders();
    let built: BTreeSet<String> = functions_by_binary(&t).into_keys().collect();
    assert_eq!(built, folders);
    for f in &folders {
        let manifest = std::fs::read_to_string(root().join("functions").join(f).join("Cargo.toml")).unwrap();
        assert!(manifest.contains(&format!("[[bin]]\nname = \"{f}\"")), "functions/{f} builds a binary named {f}");
    }
    assert_eq!(t["Globals"]["Function"]["Runtime"], "provided.al2023");
    assert_eq!(t["Globals"]["Function"]["Handler"], "bootstrap");
    assert_eq!(t["Parameters"]["Architecture"]["Default"], "arm64");
    // Deployed functions get the table's name and nothing else: the local
    // endpoint variable exists for `sam local invoke --env-vars` only
    // (scripts/sam-local) and AWS::NoValue removes it in AWS.
    let vars = t["Globals"]["Function"]["Environment"]["Variables"].as_mapping().expect("variables");
    let names: Vec<&str> = vars.keys().filter_map(Value::as_str).collect();
    assert_eq!(names, ["DDB_MESSAGE_TABLE", "AWS_ENDPOINT_URL_DYNAMODB"]);
    assert_eq!(tag(&vars["DDB_MESSAGE_TABLE"]), Some(("Ref".into(), "MessagesTable".into())));
    assert_eq!(tag(&vars["AWS_ENDPOINT_URL_DYNAMODB"]), Some(("Ref".into(), "AWS::NoValue".into())));
    // Only the realtime functions add variables: the pool the authorizer
    // checks tokens of, and where the delivery and the send's push post to.
    for (binary, (name, r)) in functions_by_binary(&t) {
        let own: Vec<&str> = r["Properties"]["Environment"]["Variables"]
            .as_mapping()
            .map(|m| m.keys().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let expected: &[&str] = match binary.as_str() {
            "websocket-authorizer" => &["USER_POOL_ID", "USER_POOL_CLIENT_ID"],
            "deliver-messages" | "create-message" | "list-messages" | "mark-read" | "edit-message"
            | "delete-message" | "websocket-typing" => &["WEBSOCKET_ENDPOINT"],
            // The pool it deletes accounts from, the connections it closes.
            "delete-my-account" => {
                &["USER_POOL_ID", "WEBSOCKET_ENDPOINT", "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER"]
            }
            _ => &[],
        };
        assert_eq!(own, expected, "{binary}: {name}'s own variables");
    }
    // Each function logs to its own group, with a retention.
    for (binary, (name, r)) in functions_by_binary(&t) {
        let (kind, group) = tag(&r["Properties"]["LoggingConfig"]["LogGroup"]).expect("a log group");
        assert_eq!(kind, "Ref", "{name}");
        let group = &resources(&t)[&group];
        assert_eq!(group["Type"], "AWS::Logs::LogGroup");
        assert!(!group["Properties"]["RetentionInDays"].is_null(), "{binary}: retention");
    }
}

#[test]
fn every_contract_route_is_routed_to_its_function_behind_the_jwt_authorizer() {
    let t = template();
    let api = &resources(&t)["HttpApi"];
    assert_eq!(api["Type"], "AWS::Serverless::HttpApi");
    let auth = &api["Properties"]["Auth"];
    let default = auth["DefaultAuthorizer"].as_str().expect("a default authorizer");
    let jwt = &auth["Authorizers"][default]["JwtConfiguration"];
    assert!(!jwt["issuer"].is_null() && !jwt["audience"].is_null(), "a JWT authorizer with issuer and audience");
    // Access tokens only: Cognito's carry this scope, its ID tokens none.
    assert_eq!(
        strings(&auth["Authorizers"][default]["AuthorizationScopes"]),
        ["aws.cognito.signin.user.admin"],
        "the authorizer requires the access token's scope"
    );

    let mut routed = BTreeSet::new();
    for (binary, (name, r)) in functions_by_binary(&t) {
        let Some(events) = r["Properties"]["Events"].as_mapping() else { continue };
        for (_, event) in events {
            if binary == "deliver-messages" {
                assert_eq!(event["Type"], "DynamoDB", "{name}: the table's stream only");
                continue;
            }
            assert_eq!(event["Type"], "HttpApi", "{name}");
            let p = &event["Properties"];
            assert_eq!(tag(&p["ApiId"]), Some(("Ref".into(), "HttpApi".into())), "{name}");
            assert!(p["Auth"].is_null(), "{name} must not override the default authorizer");
            let key = format!("{} {}", p["Method"].as_str().unwrap(), p["Path"].as_str().unwrap());
            routed.insert((key, binary.clone()));
        }
    }
    let expected: BTreeSet<(String, String)> =
        ROUTES.iter().map(|r| (r.key.to_owned(), r.function.to_owned())).collect();
    assert_eq!(routed, expected, "exactly the contract's routes, each to its function");
}

/// events/expected.tsv (what scripts/sam-local invokes) names, for each
/// sample event, the function the template gives it: the route's function for
/// an HTTP event, the trigger's for a Cognito one.
#[test]
fn every_sample_event_is_listed_with_the_function_that_receives_it() {
    let t = template();
    let by_binary = functions_by_binary(&t);
    for e in cruddur_devkit::events::expectations() {
        let sample = cruddur_devkit::events::sample_json(&e.event);
        let websocket_route = sample["requestContext"]["routeKey"].as_str();
        let binary = match sample["routeKey"].as_str() {
            Some(route) => ROUTES.iter().find(|r| r.key == route).map(|r| r.function).expect("a contract route"),
            None if sample["type"] == "REQUEST" && websocket_route == Some("$connect") => {
                websocket_function(&t, "WebSocketAuthorizer", "AuthorizerUri")
            }
            None if websocket_route == Some("$connect") => {
                websocket_function(&t, "ConnectIntegration", "IntegrationUri")
            }
            None if websocket_route == Some("$disconnect") => {
                websocket_function(&t, "DisconnectIntegration", "IntegrationUri")
            }
            None if websocket_route == Some(realtime::TYPING_ACTION) => {
                websocket_function(&t, "TypingIntegration", "IntegrationUri")
            }
            None if sample["Records"][0]["eventSource"] == "aws:dynamodb" => "deliver-messages",
            None => match sample["triggerSource"].as_str() {
                Some("PreSignUp_SignUp") => "pre-sign-up",
                Some("PostConfirmation_ConfirmSignUp") => "post-confirmation",
                other => panic!("{}: neither an HTTP API event nor a known trigger: {other:?}", e.event),
            },
        };
        let (function, _) = &by_binary[binary];
        assert_eq!(&e.function, function, "{}: {binary}", e.event);
    }
}

#[test]
fn the_table_matches_the_cores_definition() {
    let t = template();
    let table = &resources(&t)["MessagesTable"];
    assert_eq!(table["Type"], "AWS::DynamoDB::Table");
    assert_eq!(table["DeletionPolicy"], "Retain");
    assert_eq!(table["UpdateReplacePolicy"], "Retain");
    let p = &table["Properties"];
    assert_eq!(p["BillingMode"], if MESSAGES_TABLE.on_demand { "PAY_PER_REQUEST" } else { "PROVISIONED" });
    assert_eq!(p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true);
    assert_eq!(p["SSESpecification"]["SSEEnabled"], true);

    let key_schema = |v: &Value| -> Vec<(String, String)> {
        v.as_sequence()
            .unwrap()
            .iter()
            .map(|k| (k["AttributeName"].as_str().unwrap().to_owned(), k["KeyType"].as_str().unwrap().to_owned()))
            .collect()
    };
    let hash_range = |h: &str, r: &str| vec![(h.to_owned(), "HASH".to_owned()), (r.to_owned(), "RANGE".to_owned())];
    assert_eq!(key_schema(&p["KeySchema"]), hash_range(MESSAGES_TABLE.partition_key, MESSAGES_TABLE.sort_key));

    let attributes: BTreeSet<(String, String)> = p["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| (a["AttributeName"].as_str().unwrap().to_owned(), a["AttributeType"].as_str().unwrap().to_owned()))
        .collect();
    let expected: BTreeSet<(String, String)> =
        MESSAGES_TABLE.string_attributes.iter().map(|a| ((*a).to_owned(), "S".to_owned())).collect();
    assert_eq!(attributes, expected);

    let indexes = p["GlobalSecondaryIndexes"].as_sequence().map(Vec::as_slice).unwrap_or_default();
    assert_eq!(indexes.len(), MESSAGES_TABLE.global_indexes.len());
    for (yaml, code) in indexes.iter().zip(MESSAGES_TABLE.global_indexes) {
        assert_eq!(yaml["IndexName"], code.name);
        assert_eq!(key_schema(&yaml["KeySchema"]), hash_range(code.partition_key, code.sort_key));
        assert_eq!(yaml["Projection"]["ProjectionType"], code.projection.type_name(), "{}", code.name);
        let included: Option<Vec<String>> = yaml["Projection"]["NonKeyAttributes"]
            .as_sequence()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect());
        let want: Option<Vec<String>> =
            code.projection.attributes().filter(|a| !a.is_empty()).map(|a| a.iter().map(|v| (*v).to_owned()).collect());
        assert_eq!(included, want, "{}: the attributes projected", code.name);
    }
    assert!(p["LocalSecondaryIndexes"].is_null(), "the core defines no local index");
}

/// What each function does to DynamoDB, and so the only actions it may have.
/// TransactWriteItems has no IAM action of its own: each item needs its own
/// (PutItem, UpdateItem, ConditionCheckItem).
const MINIMAL_ACTIONS: &[(&str, &[&str], &[GlobalIndex])] = &[
    // (binary, actions, the indexes it reads)
    ("list-message-groups", &["dynamodb:GetItem", "dynamodb:Query"], &[LIST_A_INDEX, LIST_B_INDEX]),
    // Reading the newest page marks the message group read (one update),
    // then pushes the read: the other member's profile and connections.
    ("list-messages", &["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"], &[]),
    // The send, then its push: the conversation, profiles, connections and
    // the recipient's unread indexes.
    (
        "create-message",
        &[
            "dynamodb:ConditionCheckItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
        ],
        &[UNREAD_A_INDEX, UNREAD_B_INDEX],
    ),
    // The membership, a legacy message's key, one transaction (Update or
    // ConditionCheck of the conversation), then the push.
    (
        "edit-message",
        &["dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"],
        &[],
    ),
    (
        "delete-message",
        &["dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"],
        &[],
    ),
    ("users-short", &["dynamodb:GetItem"], &[]),
    // The caller, the handle, the pair, then one transaction of the list
    // entry, the pair and the conversation.
    ("block-user", &["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], &[]),
    ("unblock-user", &["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:UpdateItem"], &[]),
    // A page of the block list, the blocked users' profiles.
    ("list-blocks", &["dynamodb:GetItem", "dynamodb:Query"], &[]),
    // The profile, the member indexes, each conversation and its messages.
    ("export-my-data", &["dynamodb:GetItem", "dynamodb:Query"], &[MEMBER_A_INDEX, MEMBER_B_INDEX]),
    // The deletion's steps (shared/src/store/accounts.rs).
    (
        "delete-my-account",
        &["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"],
        &[MEMBER_A_INDEX, MEMBER_B_INDEX],
    ),
    // The caller's link, then their two unread-index partitions.
    ("message-counter", &["dynamodb:GetItem", "dynamodb:Query"], &[UNREAD_A_INDEX, UNREAD_B_INDEX]),
    ("mark-read", &["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"], &[]),
    ("pre-sign-up", &["dynamodb:ConditionCheckItem", "dynamodb:PutItem"], &[]),
    ("post-confirmation", &["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem"], &[]),
    // The token's sub -> the user.
    ("websocket-authorizer", &["dynamodb:GetItem"], &[]),
    ("websocket-connect", &["dynamodb:PutItem"], &[]),
    ("websocket-disconnect", &["dynamodb:DeleteItem"], &[]),
    // The membership, the throttle's marker, the other member's profile
    // and connections.
    ("websocket-typing", &["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"], &[]),
    // Conversation, profiles, connections, the recipient's unread
    // indexes; a gone connection is deleted.
    (
        "deliver-messages",
        &["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:Query"],
        &[UNREAD_A_INDEX, UNREAD_B_INDEX],
    ),
];

/// Statements beyond the table: (binary, actions, resource). Only the
/// delivery reads the stream, closes connections of this API's stage, and
/// sends to its failures queue; it and the sender's push post to them.
const OTHER_GRANTS: &[(&str, &[&str], &str)] = &[
    // The requests' pushes (a send, a read, an edit, a delete, typing): posting only.
    (
        "websocket-typing",
        &["execute-api:ManageConnections"],
        "Sub arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/${WebSocketStage}/POST/@connections/*",
    ),
    (
        "create-message",
        &["execute-api:ManageConnections"],
        "Sub arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/${WebSocketStage}/POST/@connections/*",
    ),
    (
        "list-messages",
        &["execute-api:ManageConnections"],
        "Sub arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/${WebSocketStage}/POST/@connections/*",
    ),
    (
        "mark-read",
        &["execute-api:ManageConnections"],
        "Sub arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/${WebSocketStage}/POST/@connections/*",
    ),
    (
        "edit-message",
        &["execute-api:ManageConnections"],
        "Sub arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/${WebSocketStage}/POST/@connections/*",
    ),
    (
        "delete-message",
        &["execute-api:ManageConnections"],
        "Sub arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/${WebSocketStage}/POST/@connections/*",
    ),
    (
        "deliver-messages",
        &["execute-api:ManageConnections"],
        "Sub arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/${WebSocketStage}/POST/@connections/*",
    ),
    // Closing a connection (token expired, too many, unresponsive).
    (
        "deliver-messages",
        &["execute-api:ManageConnections"],
        "Sub arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/${WebSocketStage}/DELETE/@connections/*",
    ),
    // Deleting an account: the user pool's account, and its connections.
    (
        "delete-my-account",
        &["cognito-idp:AdminDeleteUser"],
        "Sub arn:${AWS::Partition}:cognito-idp:${AWS::Region}:${AWS::AccountId}:userpool/${PoolId}",
    ),
    (
        "delete-my-account",
        &["execute-api:ManageConnections"],
        "Sub arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/${WebSocketStage}/POST/@connections/*",
    ),
    (
        "delete-my-account",
        &["execute-api:ManageConnections"],
        "Sub arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/${WebSocketStage}/DELETE/@connections/*",
    ),
    // The event source mapping's on-failure destination.
    ("deliver-messages", &["sqs:SendMessage"], "GetAtt DeliveryFailures.Arn"),
    (
        "deliver-messages",
        &["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"],
        "GetAtt MessagesTable.StreamArn",
    ),
];

/// Every IAM statement a function gets: its SAM `Policies` (statements
/// only, no managed templates), or those of its own role (`Role: !GetAtt
/// X.Arn`), which may add nothing but the basic execution role (logs): with
/// an explicit role SAM attaches no policy of its own.
fn statements_of(t: &Value, name: &str, function: &Value) -> Vec<Value> {
    let p = &function["Properties"];
    let documents: Vec<Value> = match tag(&p["Role"]) {
        None => p["Policies"].as_sequence().expect("inline policies").clone(),
        Some((kind, arn)) => {
            assert_eq!(kind, "GetAtt", "{name}");
            assert!(p["Policies"].is_null(), "{name}: a role, or SAM policies, not both");
            let role = &resources(t)[arn.trim_end_matches(".Arn")];
            assert_eq!(role["Type"], "AWS::IAM::Role", "{name}");
            let trust = &role["Properties"]["AssumeRolePolicyDocument"]["Statement"];
            assert_eq!(trust.as_sequence().map(Vec::len), Some(1), "{name}: one trust statement");
            assert_eq!(trust[0]["Principal"]["Service"], "lambda.amazonaws.com", "{name}: only Lambda assumes it");
            let managed: Vec<String> = role["Properties"]["ManagedPolicyArns"]
                .as_sequence()
                .map(|arns| arns.iter().filter_map(|a| tag(a).map(|(_, v)| v)).collect())
                .unwrap_or_default();
            assert_eq!(
                managed,
                ["arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"],
                "{name}: logs only"
            );
            role["Properties"]["Policies"]
                .as_sequence()
                .expect("inline policies")
                .iter()
                .map(|policy| policy["PolicyDocument"].clone())
                .collect()
        }
    };
    documents
        .iter()
        .flat_map(|d| d["Statement"].as_sequence().expect("statement policies only, no managed templates").clone())
        .collect()
}

/// The binary of the function a WebSocket resource's `uri_field` invokes.
fn websocket_function(t: &Value, resource: &str, uri_field: &str) -> &'static str {
    let (kind, uri) = tag(&resources(t)[resource]["Properties"][uri_field]).expect("a !Sub URI");
    assert_eq!(kind, "Sub");
    for (logical, binary) in [
        ("WebSocketAuthorizerFunction", "websocket-authorizer"),
        ("WebSocketConnectFunction", "websocket-connect"),
        ("WebSocketDisconnectFunction", "websocket-disconnect"),
        ("WebSocketTypingFunction", "websocket-typing"),
    ] {
        if uri.contains(&format!("${{{logical}.Arn}}/invocations")) {
            return binary;
        }
    }
    panic!("{resource} invokes no WebSocket function: {uri}")
}

#[test]
fn every_function_has_exactly_the_dynamodb_actions_it_uses_on_this_table_only() {
    let t = template();
    let functions = functions_by_binary(&t);
    assert_eq!(functions.len(), MINIMAL_ACTIONS.len());
    for (binary, actions, uses_index) in MINIMAL_ACTIONS {
        let (name, r) = &functions[*binary];
        let mut granted = BTreeSet::new();
        let mut resources_seen = BTreeSet::new();
        let mut others = BTreeSet::new();
        {
            for s in statements_of(&t, name, r) {
                assert_eq!(s["Effect"], "Allow");
                let actions = strings(&s["Action"]);
                for a in &actions {
                    assert!(!a.contains('*'), "{name}: no wildcard actions ({a})");
                }
                let res = match &s["Resource"] {
                    Value::Sequence(seq) => seq.clone(),
                    one => vec![one.clone()],
                };
                let described: Vec<String> = res
                    .iter()
                    .map(|r| match tag(r) {
                        Some((kind, target)) => format!("{kind} {target}"),
                        None => panic!("{name}: resource {r:?} is not this stack's"),
                    })
                    .collect();
                let on_table = described
                    .iter()
                    .all(|d| d == "GetAtt MessagesTable.Arn" || d.starts_with("Sub ${MessagesTable.Arn}/index/"));
                if on_table {
                    granted.extend(actions);
                    resources_seen.extend(described);
                } else {
                    for d in described {
                        others.insert((actions.clone(), d));
                    }
                }
            }
        }
        let expected_others: BTreeSet<(Vec<String>, String)> = OTHER_GRANTS
            .iter()
            .filter(|(b, _, _)| b == binary)
            .map(|(_, actions, resource)| (actions.iter().map(|a| (*a).to_owned()).collect(), (*resource).to_owned()))
            .collect();
        assert_eq!(others, expected_others, "{name}: nothing beyond the table but these");
        let expected: BTreeSet<String> = actions.iter().map(|a| (*a).to_owned()).collect();
        assert_eq!(granted, expected, "{name}: the minimal set");
        let mut expected_resources = BTreeSet::from(["GetAtt MessagesTable.Arn".to_owned()]);
        for index in *uses_index {
            expected_resources.insert(format!("Sub ${{MessagesTable.Arn}}/index/{}", index.name));
        }
        assert_eq!(resources_seen, expected_resources, "{name}: this table (and index) only");
    }
}

#[test]
fn expiring_items_are_removed_by_ttl() {
    let t = template();
    let ttl = &resources(&t)["MessagesTable"]["Properties"]["TimeToLiveSpecification"];
    assert_eq!(ttl["AttributeName"], MESSAGES_TABLE.ttl_attribute);
    assert_eq!(ttl["Enabled"], Value::Bool(true));
}

#[test]
fn the_templates_cors_is_the_local_servers_cors() {
    use cruddur_core::api::cors;
    let t = template();
    let c = &resources(&t)["HttpApi"]["Properties"]["CorsConfiguration"];
    assert_eq!(strings(&c["AllowHeaders"]), cors::ALLOWED_HEADERS);
    assert_eq!(strings(&c["AllowMethods"]), cors::ALLOWED_METHODS);
    assert_eq!(strings(&c["ExposeHeaders"]), cors::EXPOSED_HEADERS);
    assert_eq!(c["MaxAge"].as_u64(), Some(u64::from(cors::MAX_AGE_SECS)));
    assert_eq!(tag(&c["AllowOrigins"][0]), Some(("Ref".into(), "FrontendOrigin".into())));
    assert_eq!(t["Parameters"]["FrontendOrigin"]["Default"], cors::DEFAULT_ALLOWED_ORIGIN);
}

/// What ships stays small: the functions and the core depend on nothing that
/// is only for development (the devkit, the tools, the test crate), and the
/// core holds no seed data. From `cargo metadata`, as cargo resolves it.
#[test]
fn the_shipped_crates_depend_on_nothing_that_does_not_ship() {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let not_shipped =
        ["cruddur-devkit", "cruddur-cli", "cruddur-local-api", "cruddur-bench", "cruddur-integration-tests"];
    let mut shipped = Vec::new();
    for package in metadata["packages"].as_array().expect("packages") {
        let manifest = package["manifest_path"].as_str().unwrap_or_default();
        let dir = Path::new(manifest).parent().and_then(|d| d.strip_prefix(root().canonicalize().unwrap()).ok());
        let Some(dir) = dir else { continue };
        if !(dir.starts_with("functions") || dir == Path::new("shared")) {
            continue;
        }
        let name = package["name"].as_str().unwrap_or_default().to_owned();
        for dependency in package["dependencies"].as_array().into_iter().flatten() {
            let dep = dependency["name"].as_str().unwrap_or_default();
            let kind = dependency["kind"].as_str();
            assert!(
                kind == Some("dev") || !not_shipped.contains(&dep),
                "{name} (shipped) depends on {dep}, which does not ship"
            );
            // The Cognito SDK ships in the one function that deletes accounts.
            let own = if name == "delete-my-account" { &["aws-sdk-cognitoidentityprovider"][..] } else { &[] };
            if name != "cruddur-core" && kind.is_none() {
                assert!(
                    ["cruddur-core", "lambda_http", "tokio"].contains(&dep) || own.contains(&dep),
                    "function {name} depends on {dep}: a function is a thin adapter over cruddur-core"
                );
            }
            if name == "cruddur-core" {
                assert_ne!(dep, "aws-sdk-cognitoidentityprovider", "the core must not bring the Cognito SDK");
            }
        }
        shipped.push(name);
    }
    assert_eq!(shipped.len(), 21, "the core and twenty functions: {shipped:?}");
    assert!(!root().join("shared/src/seed.rs").exists(), "seed data lives in tools/devkit");
}

/// A handle is chosen once: the pool's schema makes preferred_username
/// immutable (users may change mutable standard attributes with their own
/// access token), and the app client may write it, at sign-up.
#[test]
fn the_handle_cannot_be_changed_after_sign_up() {
    let t = template();
    let pool = &resources(&t)["UserPool"]["Properties"];
    let schema = pool["Schema"].as_sequence().expect("a schema");
    let handle = schema.iter().find(|a| a["Name"] == "preferred_username").expect("preferred_username");
    assert_eq!(handle["Mutable"], Value::Bool(false));
    assert_eq!(handle["Required"], Value::Bool(true));
    let client = &resources(&t)["UserPoolClient"]["Properties"];
    assert!(strings(&client["WriteAttributes"]).contains(&"preferred_username".to_owned()));
}

/// The WebSocket API: `$connect` behind the REQUEST authorizer reading the
/// token from the query string, `$disconnect`, each to its function with
/// API Gateway allowed to invoke it from this API only; the table's stream
/// (new images) into the delivery, filtered to new messages by the core's
/// pattern, reporting partial batch failures, posting to this API's stage.
#[test]
fn the_websocket_api_authorizes_connect_and_the_stream_feeds_the_delivery() {
    let t = template();
    let r = resources(&t);
    assert_eq!(r["WebSocketApi"]["Properties"]["ProtocolType"], "WEBSOCKET");
    let authorizer = &r["WebSocketAuthorizer"]["Properties"];
    assert_eq!(authorizer["AuthorizerType"], "REQUEST");
    assert_eq!(
        strings(&authorizer["IdentitySource"]),
        [format!("route.request.querystring.{}", realtime::TOKEN_PARAMETER)]
    );
    assert_eq!(websocket_function(&t, "WebSocketAuthorizer", "AuthorizerUri"), "websocket-authorizer");

    let route = |name: &str| r[name]["Properties"].clone();
    let connect = route("ConnectRoute");
    assert_eq!(connect["RouteKey"], "$connect");
    assert_eq!(connect["AuthorizationType"], "CUSTOM");
    assert_eq!(tag(&connect["AuthorizerId"]), Some(("Ref".into(), "WebSocketAuthorizer".into())));
    assert_eq!(tag(&connect["Target"]), Some(("Sub".into(), "integrations/${ConnectIntegration}".into())));
    assert_eq!(websocket_function(&t, "ConnectIntegration", "IntegrationUri"), "websocket-connect");
    let disconnect = route("DisconnectRoute");
    assert_eq!(disconnect["RouteKey"], "$disconnect");
    assert_eq!(tag(&disconnect["Target"]), Some(("Sub".into(), "integrations/${DisconnectIntegration}".into())));
    assert_eq!(websocket_function(&t, "DisconnectIntegration", "IntegrationUri"), "websocket-disconnect");
    let routes: Vec<&String> =
        r.iter().filter(|(_, v)| v["Type"] == "AWS::ApiGatewayV2::Route").map(|(k, _)| k).collect();
    assert_eq!(routes.len(), 5, "no route but $connect, $disconnect, ping, typing and $default: {routes:?}");
    // typing: one-way, to its function (which posts its answers itself).
    let typing = route("TypingRoute");
    assert_eq!(typing["RouteKey"], realtime::TYPING_ACTION);
    assert_eq!(tag(&typing["Target"]), Some(("Sub".into(), "integrations/${TypingIntegration}".into())));
    assert!(typing["RouteResponseSelectionExpression"].is_null(), "typing is one-way");
    assert_eq!(websocket_function(&t, "TypingIntegration", "IntegrationUri"), "websocket-typing");
    assert_eq!(r["WebSocketApi"]["Properties"]["RouteSelectionExpression"], "$request.body.action");
    // Client frames: answered by API Gateway itself (MOCK), as the core
    // answers them locally; no function behind them.
    for (route_name, key, integration, answer) in [
        ("PingRoute", realtime::PING_ACTION, "PingIntegration", realtime::PONG_FRAME),
        ("DefaultRoute", "$default", "DefaultIntegration", realtime::UNKNOWN_ACTION_FRAME),
    ] {
        let p = route(route_name);
        assert_eq!(p["RouteKey"], key, "{route_name}");
        assert_eq!(p["RouteResponseSelectionExpression"], "$default", "{route_name}: two-way");
        assert_eq!(tag(&p["Target"]), Some(("Sub".into(), format!("integrations/${{{integration}}}"))));
        assert_eq!(r[integration]["Properties"]["IntegrationType"], "MOCK", "{integration}");
        let responses: Vec<&Value> = r
            .values()
            .filter(|v| {
                v["Type"] == "AWS::ApiGatewayV2::IntegrationResponse"
                    && tag(&v["Properties"]["IntegrationId"]) == Some(("Ref".into(), integration.to_owned()))
            })
            .collect();
        assert_eq!(responses.len(), 1, "{integration}: one integration response");
        assert_eq!(responses[0]["Properties"]["ResponseTemplates"]["$default"], answer, "{integration}");
        assert_eq!(realtime::answer_to_client_frame(&format!(r#"{{"action":"{key}"}}"#)), answer, "{route_name}");
        let route_responses = r.values().filter(|v| {
            v["Type"] == "AWS::ApiGatewayV2::RouteResponse"
                && tag(&v["Properties"]["RouteId"]) == Some(("Ref".into(), route_name.to_owned()))
        });
        assert_eq!(route_responses.count(), 1, "{route_name}: its answer is sent back");
    }

    for (permission, function, source) in [
        ("WebSocketAuthorizerPermission", "WebSocketAuthorizerFunction", "/authorizers/${WebSocketAuthorizer}"),
        ("WebSocketConnectPermission", "WebSocketConnectFunction", "/*/$connect"),
        ("WebSocketDisconnectPermission", "WebSocketDisconnectFunction", "/*/$disconnect"),
        ("WebSocketTypingPermission", "WebSocketTypingFunction", "/*/typing"),
    ] {
        let p = &r[permission]["Properties"];
        assert_eq!(p["Principal"], "apigateway.amazonaws.com");
        assert_eq!(tag(&p["FunctionName"]), Some(("GetAtt".into(), format!("{function}.Arn"))));
        let (_, arn) = tag(&p["SourceArn"]).expect("a source ARN");
        assert!(arn.ends_with(&format!(":${{WebSocketApi}}{source}")), "{permission}: {arn}");
    }

    // The stream: new images, into the delivery only.
    let table = &r["MessagesTable"]["Properties"];
    assert_eq!(table["StreamSpecification"]["StreamViewType"], MESSAGES_TABLE.stream_view);
    let functions = functions_by_binary(&t);
    let (_, deliver) = &functions["deliver-messages"];
    let events = deliver["Properties"]["Events"].as_mapping().expect("events");
    assert_eq!(events.len(), 1);
    let (_, event) = events.iter().next().unwrap();
    assert_eq!(event["Type"], "DynamoDB");
    let p = &event["Properties"];
    assert_eq!(tag(&p["Stream"]), Some(("GetAtt".into(), "MessagesTable.StreamArn".into())));
    assert_eq!(strings(&p["FunctionResponseTypes"]), ["ReportBatchItemFailures"]);
    // A failing batch is bisected; what is given up on goes to the
    // encrypted failures queue (and stays 14 days), never silently.
    assert_eq!(p["BisectBatchOnFunctionError"], Value::Bool(true));
    let on_failure = &p["DestinationConfig"]["OnFailure"];
    assert_eq!(on_failure["Type"], "SQS");
    assert_eq!(tag(&on_failure["Destination"]), Some(("GetAtt".into(), "DeliveryFailures.Arn".into())));
    let queue = &r["DeliveryFailures"];
    assert_eq!(queue["Type"], "AWS::SQS::Queue");
    assert_eq!(queue["Properties"]["KmsMasterKeyId"], "alias/aws/sqs", "encrypted");
    let filters = p["FilterCriteria"]["Filters"].as_sequence().expect("filters");
    assert_eq!(filters.len(), 1);
    let pattern: serde_json::Value = serde_json::from_str(filters[0]["Pattern"].as_str().unwrap()).unwrap();
    let core: serde_json::Value = serde_json::from_str(realtime::STREAM_FILTER_PATTERN).unwrap();
    assert_eq!(pattern, core, "the template's filter is the core's");
    assert_eq!(pattern["dynamodb"]["Keys"]["pk"]["S"][0]["prefix"], cruddur_core::store::MESSAGE_PREFIX);
    for (binary, (name, r)) in &functions {
        if binary != "deliver-messages" {
            assert!(
                r["Properties"]["Events"].as_mapping().is_none_or(|e| e.values().all(|e| e["Type"] != "DynamoDB")),
                "{name} reads no stream"
            );
        }
    }
    // The delivery and the send's push post to this stack's own stage.
    for binary in ["deliver-messages", "create-message"] {
        let (_, r) = &functions[binary];
        let (_, endpoint) = tag(&r["Properties"]["Environment"]["Variables"]["WEBSOCKET_ENDPOINT"]).unwrap();
        assert_eq!(endpoint, "https://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${WebSocketStage}");
    }
    assert_eq!(tag(&r["WebSocketStage"]["Properties"]["ApiId"]), Some(("Ref".into(), "WebSocketApi".into())));
}
