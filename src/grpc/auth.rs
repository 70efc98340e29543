//! The gRPC side of access control ([`crate::access`]): the front door of every routing service
//! ([`super::calls::Front`]) turns the `authorization` header into a [`Principal`] attached to
//! the request, and [`caller`] reads it back in the handler. Health and reflection are open.

use tonic::Request;

use crate::access::Principal;

/// The principal the front door attached to a request ([`Principal::Unchecked`] if none).
pub fn caller<T>(request: &Request<T>) -> Principal {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .unwrap_or(Principal::Unchecked)
}
