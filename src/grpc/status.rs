//! The one mapping from engine and runtime errors to gRPC status codes.

use tonic::Status;

use crate::access::AccessError;
use crate::core::CoreError;
use crate::core::error::ErrorClass;
use crate::runtime::RuntimeError;
use crate::runtime::bus::SubscribeError;

impl From<CoreError> for Status {
    fn from(e: CoreError) -> Status {
        let message = e.to_string();
        match e.class() {
            ErrorClass::Invalid => Status::invalid_argument(message),
            ErrorClass::NotFound => Status::not_found(message),
            ErrorClass::Precondition => Status::failed_precondition(message),
            ErrorClass::Exhausted => Status::resource_exhausted(message),
            ErrorClass::Exists => Status::already_exists(message),
        }
    }
}

impl From<RuntimeError> for Status {
    fn from(e: RuntimeError) -> Status {
        match e {
            RuntimeError::Core(e) => e.into(),
            RuntimeError::Stopped => Status::unavailable(e.to_string()),
        }
    }
}

impl From<AccessError> for Status {
    fn from(e: AccessError) -> Status {
        match e {
            AccessError::Unauthenticated(m) => Status::unauthenticated(m),
            AccessError::PermissionDenied(m) => Status::permission_denied(m),
        }
    }
}

impl From<SubscribeError> for Status {
    fn from(e: SubscribeError) -> Status {
        Status::out_of_range(e.to_string())
    }
}

/// The name gRPC gives a status code.
pub fn code_name(code: i32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("UNKNOWN")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Channel;
    use tonic::Code;

    #[test]
    fn every_error_has_its_code_and_message() {
        let cases = [
            (CoreError::invalid("x"), Code::InvalidArgument),
            (
                CoreError::UnknownQueue { queue: "q".into() },
                Code::NotFound,
            ),
            (CoreError::UnknownContact { contact: 7 }, Code::NotFound),
            (
                CoreError::ContactEnded { contact: 7 },
                Code::FailedPrecondition,
            ),
            (
                CoreError::ChannelLimitBelowHeld {
                    agent: "a".into(),
                    channel: Channel::Chat,
                    held: 2,
                },
                Code::FailedPrecondition,
            ),
            (
                CoreError::QueueFull {
                    queue: "q".into(),
                    max_length: 3,
                },
                Code::ResourceExhausted,
            ),
            (
                CoreError::LiveContactLimit { limit: 9 },
                Code::ResourceExhausted,
            ),
        ];
        for (e, code) in cases {
            let message = e.to_string();
            let status = Status::from(e);
            assert_eq!(status.code(), code);
            assert_eq!(status.message(), message);
        }
        assert_eq!(
            Status::from(RuntimeError::Stopped).code(),
            Code::Unavailable
        );
    }
}
