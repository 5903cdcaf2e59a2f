//! AlterUserScramCredentials (key 51): create, replace and delete SCRAM credentials. The
//! client sends the salt and the salted password (computed from the password on its side);
//! the broker keeps only the salt, the iteration count and the RFC 5802 StoredKey/ServerKey, in
//! the metadata log, so they survive restarts and override the config file's users.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
};

use super::{str_bytes, RequestContext};
use crate::authorizer::AclOperation;
use crate::broker::Broker;
use crate::error::ApiError;
use crate::metadata::MetadataRecord;
use crate::security::credentials::{
    Credentials, ScramCredential, ScramMechanism, MAX_SCRAM_ITERATIONS, MIN_SCRAM_ITERATIONS,
};

/// One user's requested change, once validated.
enum Change {
    Upsert(ScramMechanism, ScramCredential),
    Delete(ScramMechanism),
}

pub(super) fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    if let Err(e) = broker.authorize_cluster_operation(ctx, AclOperation::Alter) {
        // Kafka's error response: every user named, once, in name order.
        let users: BTreeSet<&str> = request
            .deletions
            .iter()
            .map(|d| d.name.as_str())
            .chain(request.upsertions.iter().map(|u| u.name.as_str()))
            .collect();
        let results = users
            .into_iter()
            .map(|user| {
                AlterUserScramCredentialsResult::default()
                    .with_user(str_bytes(user))
                    .with_error_code(e.code())
                    .with_error_message(Some(str_bytes(e.message.clone())))
            })
            .collect();
        return AlterUserScramCredentialsResponse::default().with_results(results);
    }
    // Users in order of first appearance, each with its change or its error.
    let mut order: Vec<String> = Vec::new();
    let mut outcome: BTreeMap<String, Result<Change, ApiError>> = BTreeMap::new();
    // Computed under the metadata lock, which every change of the live credentials holds (the
    // publisher applies committed records before it is released): what is checked here is
    // what the records apply to.
    let committed = broker.update_metadata(|_image| {
        let records = records(&request, &broker.credentials, &mut order, &mut outcome);
        (records, ())
    });
    let results = order
        .iter()
        .map(|name| {
            let result = AlterUserScramCredentialsResult::default().with_user(str_bytes(name));
            let change = outcome.remove(name).expect("every user has an outcome");
            match change.and_then(|c| committed.clone().map(|()| c)) {
                Ok(Change::Upsert(mechanism, credential)) => {
                    tracing::info!(user = %name, mechanism = mechanism.name(), iterations = credential.iterations, "SCRAM credential set");
                    result
                }
                Ok(Change::Delete(mechanism)) => {
                    tracing::info!(user = %name, mechanism = mechanism.name(), "SCRAM credential deleted");
                    result
                }
                Err(e) => result
                    .with_error_code(e.code())
                    .with_error_message(Some(str_bytes(e.message))),
            }
        })
        .collect();
    AlterUserScramCredentialsResponse::default().with_results(results)
}

/// Validates each user's change into `outcome` (users in `order` of first appearance) and
/// returns the records of the valid ones.
fn records(
    request: &AlterUserScramCredentialsRequest,
    credentials: &RwLock<Credentials>,
    order: &mut Vec<String>,
    outcome: &mut BTreeMap<String, Result<Change, ApiError>>,
) -> Vec<MetadataRecord> {
    let credentials = credentials.read().expect("credentials lock poisoned");
    let mut add = |name: String, change: Result<Change, ApiError>| {
        use std::collections::btree_map::Entry;
        match outcome.entry(name) {
            Entry::Occupied(mut seen) => {
                let _previous = seen.insert(Err(ApiError::new(
                    ResponseError::DuplicateResource,
                    "A user credential cannot be altered twice in the same request",
                )));
            }
            Entry::Vacant(slot) => {
                order.push(slot.key().clone());
                slot.insert(change);
            }
        }
    };
    for deletion in &request.deletions {
        let name = deletion.name.to_string();
        let change = check_name(&name).and_then(|()| {
            let mechanism = mechanism(deletion.mechanism)?;
            if credentials.scram(&name, mechanism).is_none() {
                return Err(ApiError::new(
                    ResponseError::ResourceNotFound,
                    "Attempt to delete a user credential that does not exist",
                ));
            }
            Ok(Change::Delete(mechanism))
        });
        add(name, change);
    }
    for upsertion in &request.upsertions {
        let name = upsertion.name.to_string();
        let change = check_name(&name).and_then(|()| {
            let mechanism = mechanism(upsertion.mechanism)?;
            let unacceptable = |m: &str| ApiError::new(ResponseError::UnacceptableCredential, m);
            if upsertion.iterations < MIN_SCRAM_ITERATIONS {
                return Err(unacceptable("Too few iterations"));
            }
            if upsertion.iterations > MAX_SCRAM_ITERATIONS {
                return Err(unacceptable("Too many iterations"));
            }
            if upsertion.salt.is_empty() || upsertion.salted_password.is_empty() {
                return Err(unacceptable("Salt and salted password must not be empty"));
            }
            Ok(Change::Upsert(
                mechanism,
                ScramCredential::from_salted_password(
                    mechanism,
                    &upsertion.salted_password,
                    &upsertion.salt,
                    upsertion.iterations,
                ),
            ))
        });
        add(name, change);
    }
    order
        .iter()
        .filter_map(|name| match outcome.get(name)? {
            Ok(Change::Upsert(mechanism, credential)) => {
                Some(MetadataRecord::UserScramCredential {
                    name: name.clone(),
                    mechanism: *mechanism,
                    credential: credential.clone(),
                })
            }
            Ok(Change::Delete(mechanism)) => Some(MetadataRecord::RemoveUserScramCredential {
                name: name.clone(),
                mechanism: *mechanism,
            }),
            Err(_) => None,
        })
        .collect()
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(ApiError::new(
            ResponseError::UnacceptableCredential,
            "Username must not be empty",
        ));
    }
    Ok(())
}

fn mechanism(code: i8) -> Result<ScramMechanism, ApiError> {
    ScramMechanism::from_code(code).ok_or_else(|| {
        ApiError::new(ResponseError::UnsupportedSaslMechanism, "Unknown SCRAM mechanism")
    })
}
