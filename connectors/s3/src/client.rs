//! Building the `aws-sdk-s3` client, and mapping its errors to connector error kinds.

use aws_config::BehaviorVersion;
use aws_sdk_s3::config::retry::{RetryConfig, RetryPartition, TokenBucket};
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    Region, RequestChecksumCalculation, ResponseChecksumValidation, SharedCredentialsProvider,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use connector_sdk::{ConnectorError, ErrorKind};

use crate::S3Config;

/// Builds a client from the AWS default chain (env, profile, web identity, IMDS), or from
/// `credentials` when given. Credentials are never logged: only the SDK sees them.
pub(crate) async fn build(
    config: &S3Config,
    credentials: Option<SharedCredentialsProvider>,
) -> Result<aws_sdk_s3::Client, ConnectorError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &config.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(credentials) = credentials {
        loader = loader.credentials_provider(credentials);
    }
    let shared = loader.load().await;
    if shared.region().is_none() {
        return Err(ConnectorError::new(
            ErrorKind::Permanent,
            "no region: set `region` in the source or AWS_REGION in the environment",
        ));
    }
    let retry = RetryConfig::standard()
        .with_max_attempts(config.max_attempts)
        .with_initial_backoff(config.initial_backoff);
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .operation_attempt_timeout(config.attempt_timeout)
        .build();
    let mut builder = aws_sdk_s3::config::Builder::from(&shared)
        .retry_config(retry)
        // A sync is a batch job: every request gets all its attempts, with exponential
        // backoff and jitter. The SDK's shared retry quota is a circuit breaker for
        // interactive callers; in a throttling storm it would fail documents instead.
        .retry_partition(
            RetryPartition::custom(format!("tributary-s3-{}", config.bucket))
                .token_bucket(TokenBucket::unlimited())
                .build(),
        )
        .timeout_config(timeouts)
        .force_path_style(config.force_path_style)
        // Extra CRC headers are only sent or checked when an operation requires them:
        // several S3-compatible stores reject or garble them.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    if let Some(url) = &config.endpoint_url {
        builder = builder.endpoint_url(url);
    }
    Ok(aws_sdk_s3::Client::from_conf(builder.build()))
}

/// Error codes that mean the credentials, not the request, are the problem.
const CREDENTIAL_CODES: &[&str] = &[
    "ExpiredToken",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "TokenRefreshRequired",
    "InvalidClientTokenId",
    "AuthorizationHeaderMalformed",
];

/// Maps an SDK error to a connector error. `what` names the request ("list s3://b/p").
pub(crate) fn classify<E, R>(what: &str, err: SdkError<E, R>) -> ConnectorError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + HasStatus + Send + Sync + 'static,
{
    let status = err.raw_response().map(HasStatus::status);
    let code = err.code().map(str::to_string);
    let text = DisplayErrorContext(&err).to_string();
    let kind = match (code.as_deref(), status) {
        (Some(c), _) if CREDENTIAL_CODES.contains(&c) => ErrorKind::Unauthorized,
        (Some("AccessDenied"), _) | (_, Some(403)) => ErrorKind::Permanent,
        (Some("NoSuchKey"), _) | (_, Some(404)) => ErrorKind::NotFound,
        // If-Match failed: the object changed after it was listed. The next sync lists the
        // new version; indexing the new bytes under the old version would be wrong.
        (Some("PreconditionFailed"), _) | (_, Some(412)) => ErrorKind::Transient,
        (Some("SlowDown" | "Throttling" | "ThrottlingException" | "RequestLimitExceeded"), _)
        | (_, Some(429 | 503)) => ErrorKind::RateLimited { retry_after: None },
        (_, Some(s)) if s >= 500 => ErrorKind::Transient,
        // A success the SDK could not read: the answer, not the request, is wrong.
        (_, Some(200..=299)) => ErrorKind::InvalidResponse,
        _ => match &err {
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
                if text.contains("credentials") {
                    ErrorKind::Unauthorized
                } else {
                    ErrorKind::Transient
                }
            }
            SdkError::ResponseError(_) => ErrorKind::InvalidResponse,
            _ if text.contains("credentials") => ErrorKind::Unauthorized,
            _ => ErrorKind::Permanent,
        },
    };
    let detail = match (code, status) {
        (Some(code), Some(status)) => format!("{code} (http {status})"),
        (None, Some(status)) => format!("http {status}"),
        _ => text.clone(),
    };
    ConnectorError::new(kind, format!("{what}: {detail}")).with_source(err)
}

/// [`classify`] for a listing: a request denied on the bucket means no document of it can
/// be synced, so the run fails (deleting nothing) instead of skipping one item.
pub(crate) fn classify_listing<E, R>(what: &str, err: SdkError<E, R>) -> ConnectorError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + HasStatus + Send + Sync + 'static,
{
    let mut err = classify(what, err);
    if err.kind == ErrorKind::Permanent {
        err.kind = ErrorKind::Unauthorized;
    }
    err
}

/// The HTTP status of a raw response, whatever the SDK's response type.
pub(crate) trait HasStatus {
    fn status(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
}
