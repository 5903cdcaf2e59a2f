//! DescribeUserScramCredentials (key 50): which SCRAM mechanisms and iteration counts each
//! user has. Never a salt or a key.

use std::collections::BTreeSet;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};

use super::{str_bytes, RequestContext};
use crate::authorizer::AclOperation;
use crate::broker::Broker;

pub(super) fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    let response = DescribeUserScramCredentialsResponse::default();
    if let Err(e) = broker.authorize_cluster_operation(ctx, AclOperation::Describe) {
        return response.with_error_code(e.code()).with_error_message(Some(str_bytes(e.message)));
    }
    let users = broker.credentials.read().expect("credentials lock poisoned").scram_users();
    let result =
        |user: &str| DescribeUserScramCredentialsResult::default().with_user(str_bytes(user));
    let info = |(mechanism, iterations): &(crate::security::credentials::ScramMechanism, i32)| {
        CredentialInfo::default().with_mechanism(mechanism.code()).with_iterations(*iterations)
    };
    let requested = request.users.unwrap_or_default();
    let results = if requested.is_empty() {
        users
            .iter()
            .map(|(user, credentials)| {
                result(user).with_credential_infos(credentials.iter().map(info).collect())
            })
            .collect()
    } else {
        let names: Vec<String> = requested.iter().map(|u| u.name.to_string()).collect();
        let mut seen = BTreeSet::new();
        let duplicates: BTreeSet<&String> = names.iter().filter(|n| !seen.insert(*n)).collect();
        let mut reported = BTreeSet::new();
        names
            .iter()
            .filter(|name| reported.insert(*name))
            .map(|name| {
                let error = |code: ResponseError, message: &str| {
                    result(name)
                        .with_error_code(code.code())
                        .with_error_message(Some(str_bytes(message)))
                };
                if duplicates.contains(name) {
                    error(
                        ResponseError::DuplicateResource,
                        "Cannot describe SCRAM credentials for the same user twice in a single request",
                    )
                } else if let Some(credentials) = users.get(name) {
                    result(name).with_credential_infos(credentials.iter().map(info).collect())
                } else {
                    error(
                        ResponseError::ResourceNotFound,
                        "Attempt to describe a user credential that does not exist",
                    )
                }
            })
            .collect()
    };
    response.with_results(results)
}
