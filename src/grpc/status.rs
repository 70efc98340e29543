//! The one mapping from engine errors to gRPC status codes.

use tonic::Status;

use crate::core::CoreError;
use crate::server::ServerError;
use crate::server::bus::SubscribeError;

impl From<CoreError> for Status {
    fn from(e: CoreError) -> Status {
        match e {
            CoreError::InvalidArgument(m) => Status::invalid_argument(m),
            CoreError::NotFound(m) => Status::not_found(m),
            CoreError::FailedPrecondition(m) => Status::failed_precondition(m),
            CoreError::ResourceExhausted(m) => Status::resource_exhausted(m),
        }
    }
}

impl From<ServerError> for Status {
    fn from(e: ServerError) -> Status {
        match e {
            ServerError::Core(e) => e.into(),
            ServerError::Stopped => Status::unavailable(e.to_string()),
        }
    }
}

impl From<SubscribeError> for Status {
    fn from(e: SubscribeError) -> Status {
        Status::out_of_range(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn every_core_error_has_its_code() {
        let cases = [
            (CoreError::invalid("x"), Code::InvalidArgument),
            (CoreError::not_found("x"), Code::NotFound),
            (CoreError::precondition("x"), Code::FailedPrecondition),
            (CoreError::exhausted("x"), Code::ResourceExhausted),
        ];
        for (e, code) in cases {
            assert_eq!(Status::from(e).code(), code);
        }
        assert_eq!(Status::from(ServerError::Stopped).code(), Code::Unavailable);
    }
}
