//! The gRPC side of access control ([`crate::access`]): an interceptor on every routing service
//! turns the `authorization` metadata into a [`Principal`] attached to the request, and
//! [`caller`] reads it back in the handler. Health and reflection are not intercepted.

use tonic::{Request, Status};

use crate::access::{Authenticator, Principal};

/// The principal the interceptor attached to a request ([`Principal::Unchecked`] if none).
pub fn caller<T>(request: &Request<T>) -> Principal {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .unwrap_or(Principal::Unchecked)
}

/// The token check in front of every routing service.
#[derive(Clone, Debug)]
pub struct TokenCheck(pub Authenticator);

impl tonic::service::Interceptor for TokenCheck {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|h| h.to_str().ok());
        let principal = self.0.principal(header)?;
        request.extensions_mut().insert(principal);
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{Role, TokenConfig};
    use tonic::service::Interceptor;

    #[test]
    fn the_interceptor_attaches_the_principal() {
        let auth = Authenticator::new(&[TokenConfig {
            token: "0123456789abcdef".into(),
            role: Role::Supervisor,
            agent_id: None,
        }])
        .unwrap();
        let mut check = TokenCheck(auth);
        let e = check.call(Request::new(())).unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        let mut r = Request::new(());
        r.metadata_mut()
            .insert("authorization", "Bearer 0123456789abcdef".parse().unwrap());
        let r = check.call(r).unwrap();
        assert_eq!(
            caller(&r),
            Principal::Token {
                role: Role::Supervisor,
                agent: None
            }
        );
        assert_eq!(caller(&Request::new(())), Principal::Unchecked);
        let open = TokenCheck(Authenticator::default())
            .call(Request::new(()))
            .unwrap();
        assert_eq!(caller(&open), Principal::Open);
    }
}
