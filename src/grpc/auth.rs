//! Access control: bearer tokens mapped to roles.
//!
//! An interceptor on every routing service turns the `authorization: Bearer <token>` header into
//! a [`Principal`] (UNAUTHENTICATED when it is missing or unknown); each handler then asks
//! [`Principal::allow`] whether that principal may make the call (PERMISSION_DENIED otherwise).
//! An agent token acts only as its own agent. With no tokens configured every caller is
//! [`Principal::Open`] and may do anything; the server then listens on loopback only.
//! Health and reflection stay open.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tonic::{Request, Status};

/// What a token lets its holder do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Admin,
    /// The event stream and snapshot, reading queues, agents and contacts, setting agent states.
    Supervisor,
    /// Enqueue, cancel, read and (for frontends that manage offers) answer contacts; read queues.
    Frontend,
    /// Its own agent only: the desktop session, its state, answering its own offers.
    Agent,
}

/// One configured token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    pub token: String,
    pub role: Role,
    /// The agent an `agent` token acts as (required for that role, refused for others).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
}

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// No tokens are configured: full access (loopback only).
    Open,
    Token {
        role: Role,
        agent: Option<String>,
    },
    /// The request never passed the interceptor: refused (fail closed).
    Unchecked,
}

impl Principal {
    /// The principal the interceptor attached to a request.
    pub fn of<T>(request: &Request<T>) -> Principal {
        request
            .extensions()
            .get::<Principal>()
            .cloned()
            .unwrap_or(Principal::Unchecked)
    }

    /// Allows the call if the principal is open or an admin, has one of `roles`, or — for an
    /// agent token — `roles` admits agents and the call acts as the token's own agent.
    pub fn allow(&self, call: &str, roles: &[Role], acting_as: Option<&str>) -> Result<(), Status> {
        let (role, agent) = match self {
            Principal::Open => return Ok(()),
            Principal::Token { role, agent } => (*role, agent.as_deref()),
            Principal::Unchecked => {
                return Err(Status::unauthenticated(format!(
                    "{call}: the caller's credentials were not checked"
                )));
            }
        };
        if role == Role::Admin {
            return Ok(());
        }
        if !roles.contains(&role) {
            return Err(Status::permission_denied(format!(
                "role {role:?} may not call {call}"
            )));
        }
        if role == Role::Agent && (acting_as.is_none() || acting_as != agent) {
            return Err(Status::permission_denied(format!(
                "an agent token acts only as its own agent ({}) in {call}",
                agent.unwrap_or_default()
            )));
        }
        Ok(())
    }
}

/// Turns bearer tokens into principals.
#[derive(Clone, Debug, Default)]
pub struct Authenticator {
    tokens: Arc<HashMap<String, Principal>>,
}

impl Authenticator {
    /// Checks the configured tokens: non-empty, at least 16 characters, unique, and an agent id
    /// exactly for agent tokens.
    pub fn new(tokens: &[TokenConfig]) -> anyhow::Result<Authenticator> {
        let mut map = HashMap::new();
        for (i, t) in tokens.iter().enumerate() {
            if t.token.len() < 16 || t.token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                anyhow::bail!(
                    "token #{} must be at least 16 characters, without spaces",
                    i + 1
                );
            }
            match (t.role, &t.agent_id) {
                (Role::Agent, None) => {
                    anyhow::bail!("token #{}: an agent token needs agent_id", i + 1)
                }
                (Role::Agent, Some(_)) | (_, None) => {}
                (_, Some(_)) => {
                    anyhow::bail!("token #{}: only agent tokens name an agent_id", i + 1)
                }
            }
            let principal = Principal::Token {
                role: t.role,
                agent: t.agent_id.clone(),
            };
            if map.insert(t.token.clone(), principal).is_some() {
                anyhow::bail!("token #{} is configured twice", i + 1);
            }
        }
        Ok(Authenticator {
            tokens: Arc::new(map),
        })
    }

    /// Whether any token is configured (otherwise access is open).
    pub fn is_enforced(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// The interceptor: attaches the caller's [`Principal`] to the request.
    pub fn authenticate(&self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let principal = if self.is_enforced() {
            let header = request
                .metadata()
                .get("authorization")
                .ok_or_else(|| Status::unauthenticated("missing bearer token"))?;
            let token = header
                .to_str()
                .ok()
                .and_then(|h| h.strip_prefix("Bearer "))
                .ok_or_else(|| Status::unauthenticated("authorization must be `Bearer <token>`"))?;
            self.tokens
                .get(token.trim())
                .cloned()
                .ok_or_else(|| Status::unauthenticated("unknown token"))?
        } else {
            Principal::Open
        };
        request.extensions_mut().insert(principal);
        Ok(request)
    }
}

impl tonic::service::Interceptor for Authenticator {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        self.authenticate(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(token: &str, role: Role, agent: Option<&str>) -> TokenConfig {
        TokenConfig {
            token: token.into(),
            role,
            agent_id: agent.map(str::to_string),
        }
    }

    #[test]
    fn tokens_are_checked_when_configured() {
        assert!(Authenticator::new(&[token("short", Role::Admin, None)]).is_err());
        assert!(Authenticator::new(&[token("0123456789abcdef", Role::Agent, None)]).is_err());
        assert!(
            Authenticator::new(&[token("0123456789abcdef", Role::Frontend, Some("a"))]).is_err()
        );
        let twice = token("0123456789abcdef", Role::Admin, None);
        assert!(Authenticator::new(&[twice.clone(), twice]).is_err());
    }

    #[test]
    fn roles_and_agent_scope() {
        let agent = Principal::Token {
            role: Role::Agent,
            agent: Some("alice".into()),
        };
        assert!(agent.allow("x", &[Role::Agent], Some("alice")).is_ok());
        let e = agent.allow("x", &[Role::Agent], Some("bob")).unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        assert!(agent.allow("x", &[Role::Frontend], Some("alice")).is_err());
        let frontend = Principal::Token {
            role: Role::Frontend,
            agent: None,
        };
        assert!(
            frontend
                .allow("x", &[Role::Frontend, Role::Agent], Some("bob"))
                .is_ok()
        );
        assert!(frontend.allow("x", &[Role::Supervisor], None).is_err());
        let admin = Principal::Token {
            role: Role::Admin,
            agent: None,
        };
        assert!(admin.allow("x", &[], None).is_ok());
        assert!(Principal::Open.allow("x", &[], None).is_ok());
        let unchecked = Principal::of(&Request::new(()));
        assert_eq!(
            unchecked
                .allow("x", &[Role::Frontend], None)
                .unwrap_err()
                .code(),
            tonic::Code::Unauthenticated
        );
    }

    #[test]
    fn the_interceptor_needs_a_known_bearer_token() {
        let auth =
            Authenticator::new(&[token("0123456789abcdef", Role::Supervisor, None)]).unwrap();
        let e = auth.authenticate(Request::new(())).unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        let mut r = Request::new(());
        r.metadata_mut().insert(
            "authorization",
            "Bearer nope-nope-nope-nope".parse().unwrap(),
        );
        assert_eq!(
            auth.authenticate(r).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        let mut r = Request::new(());
        r.metadata_mut()
            .insert("authorization", "Bearer 0123456789abcdef".parse().unwrap());
        let r = auth.authenticate(r).unwrap();
        assert_eq!(
            Principal::of(&r),
            Principal::Token {
                role: Role::Supervisor,
                agent: None
            }
        );
        let open = Authenticator::default()
            .authenticate(Request::new(()))
            .unwrap();
        assert_eq!(Principal::of(&open), Principal::Open);
    }
}
