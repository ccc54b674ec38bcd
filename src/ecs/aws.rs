//! Talking to AWS: the shared configuration (default credential chain, region, retries)
//! and the one place that turns an SDK error into a message that says what to do — the
//! IAM action that is missing, the resource that does not exist, the setting to raise
//! when a session expires. SDK errors are always printed with their full context
//! (`DisplayErrorContext`), never as a bare "dispatch failure".

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_ecs::config::Region;
use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// Attempts per API call for throttling, 5xx and connection errors (the SDK's standard
/// retry strategy, jittered exponential backoff).
const MAX_ATTEMPTS: u32 = 5;

/// Load the configuration the AWS CLI would use: environment, profile (static keys, SSO
/// after `aws sso login`, `credential_process`, role assumption), web identity (GitHub
/// OIDC), container credentials (CodeBuild, ECS), instance metadata. Fails with a
/// message saying what to set when there is no region or no credentials.
pub async fn load(region: Option<&str>) -> Result<SdkConfig, String> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_string()));
    }
    let config = loader.load().await;
    if config.region().is_none() {
        return Err(
            "no AWS region: pass --region, or set AWS_REGION (in GitHub Actions, \
                    aws-actions/configure-aws-credentials sets it from its `aws-region` input)"
                .into(),
        );
    }
    let Some(provider) = config.credentials_provider() else {
        return Err(NO_CREDENTIALS.into());
    };
    if let Err(e) = provider.provide_credentials().await {
        return Err(format!("{NO_CREDENTIALS} ({})", DisplayErrorContext(&e)));
    }
    Ok(config)
}

const NO_CREDENTIALS: &str = "no AWS credentials found: in GitHub Actions use \
    aws-actions/configure-aws-credentials with `role-to-assume` (and `permissions: id-token: \
    write`); in CodeBuild the project's service role provides them; locally set AWS_PROFILE \
    (an SSO profile: run `aws sso login --profile NAME` first; or a profile with \
    `credential_process`) or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY";

/// The AWS clients of a rollout, from one configuration; derefs to the ECS client.
#[derive(Clone, Debug)]
pub struct Clients {
    pub ecs: aws_sdk_ecs::Client,
    pub codedeploy: aws_sdk_codedeploy::Client,
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Clients {
        Clients {
            ecs: aws_sdk_ecs::Client::new(config),
            codedeploy: aws_sdk_codedeploy::Client::new(config),
        }
    }
}

impl std::ops::Deref for Clients {
    type Target = aws_sdk_ecs::Client;
    fn deref(&self) -> &aws_sdk_ecs::Client {
        &self.ecs
    }
}

/// What kind of failure an API error is, for the caller's decision (retry, attach, stop).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    AccessDenied,
    ExpiredSession,
    BadCredentials,
    Throttled,
    NotFound,
    /// Network, 5xx: the SDK already retried.
    Transient,
    Other,
}

/// An API call that failed, described for a human.
#[derive(Debug)]
pub struct ApiError {
    pub kind: Kind,
    pub code: Option<String>,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Describe a failed call of `action` (the IAM action name, `ecs:RunTask`) on `resource`.
pub fn describe<E, R>(err: &SdkError<E, R>, action: &str, resource: &str) -> ApiError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = err.code().map(str::to_string);
    let api_message = err.message().unwrap_or("").to_string();
    let context = DisplayErrorContext(err).to_string();
    let kind = classify(code.as_deref(), &api_message, err);
    // AWS names the action it denied (`iam:PassRole` when RunTask passes the task role).
    let denied = api_message
        .split("not authorized to perform: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or(action);
    let message = match kind {
        Kind::AccessDenied => format!(
            "AWS denied {action} on {resource}: {api_message}. Grant `{denied}` to the role \
             migrail runs as (README, \"IAM policy\")"
        ),
        Kind::ExpiredSession => format!(
            "the AWS session expired ({action} on {resource}): {api_message}. Raise the \
             session duration (GitHub Actions: `role-duration-seconds` of \
             aws-actions/configure-aws-credentials, and the role's maximum session duration)"
        ),
        Kind::BadCredentials => format!(
            "AWS rejected the credentials ({action} on {resource}): {api_message}. Check \
             AWS_PROFILE / AWS_ACCESS_KEY_ID and the region"
        ),
        Kind::Throttled => format!(
            "{action} on {resource} was throttled {MAX_ATTEMPTS} times in a row: {context}. \
             Try again in a minute"
        ),
        Kind::NotFound => format!("{resource} not found: {api_message}"),
        Kind::Transient | Kind::Other => format!("{action} on {resource} failed: {context}"),
    };
    ApiError {
        kind,
        code,
        message,
    }
}

fn classify<E, R>(code: Option<&str>, message: &str, err: &SdkError<E, R>) -> Kind
where
    E: std::fmt::Debug,
    R: std::fmt::Debug,
{
    let lower = message.to_ascii_lowercase();
    match code {
        Some("AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation") => {
            Kind::AccessDenied
        }
        Some("ExpiredTokenException" | "ExpiredToken" | "RequestExpired") => Kind::ExpiredSession,
        Some(
            "UnrecognizedClientException" | "InvalidClientTokenId" | "InvalidSignatureException",
        ) => Kind::BadCredentials,
        Some("ThrottlingException" | "Throttling" | "TooManyRequestsException") => Kind::Throttled,
        Some(
            "ClusterNotFoundException"
            | "ServiceNotFoundException"
            | "ResourceNotFoundException"
            | "TargetNotFoundException",
        ) => Kind::NotFound,
        Some("ServerException" | "ServiceUnavailableException" | "InternalFailure") => {
            Kind::Transient
        }
        _ if lower.contains("not authorized to perform") => Kind::AccessDenied,
        _ if lower.contains("security token included in the request is expired") => {
            Kind::ExpiredSession
        }
        _ => match err {
            SdkError::DispatchFailure(_)
            | SdkError::TimeoutError(_)
            | SdkError::ResponseError(_) => Kind::Transient,
            _ => Kind::Other,
        },
    }
}
