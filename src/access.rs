//! Access control, for every listener: bearer tokens mapped to roles, and which role may make
//! which call.
//!
//! Transport-neutral: a listener hands over the `authorization` header's value and gets a
//! [`Principal`] (or [`AccessError::Unauthenticated`]); each handler asks [`Principal::allow`]
//! whether that principal may make its call ([`AccessError::PermissionDenied`] otherwise). The
//! gRPC layer maps the errors to UNAUTHENTICATED / PERMISSION_DENIED; the HTTP layer will map
//! them to 401 / 403.
//!
//! Rules: an admin may do anything; an agent token acts only as its own agent; with no tokens
//! configured every caller is [`Principal::Open`] and may do anything (the server then binds
//! loopback only). A request that never passed authentication is refused (fail closed).

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// What a token lets its holder do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Admin,
    /// The event stream and snapshot, reading queues, agents and contacts, setting agent states,
    /// and changing waiting contacts (`UpdateContact`: a VIP's priority raised from the floor).
    Supervisor,
    /// Enqueue, cancel, read and (for frontends that manage offers) answer contacts; read queues.
    Frontend,
    /// Its own agent only: the desktop session, its state, answering its own offers.
    Agent,
}

impl Role {
    /// As the configuration writes it: `admin`, `supervisor`, `frontend`, `agent`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Frontend => "frontend",
            Role::Agent => "agent",
        }
    }
}

/// The roles of calls only an admin may make (admins may make every call).
pub const ADMIN_ONLY: &[Role] = &[Role::Admin];

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

/// Why a call is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// No credentials, malformed ones, or an unknown token.
    #[error("{0}")]
    Unauthenticated(String),
    /// Known credentials that may not make this call.
    #[error("{0}")]
    PermissionDenied(String),
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
    /// The request never passed authentication: refused (fail closed).
    Unchecked,
}

impl Principal {
    /// Allows the call if the principal is open or an admin, has one of `roles`, or — for an
    /// agent token — `roles` admits agents and the call acts as the token's own agent.
    pub fn allow(
        &self,
        call: &str,
        roles: &[Role],
        acting_as: Option<&str>,
    ) -> Result<(), AccessError> {
        let (role, agent) = match self {
            Principal::Open => return Ok(()),
            Principal::Token { role, agent } => (*role, agent.as_deref()),
            Principal::Unchecked => {
                return Err(AccessError::Unauthenticated(format!(
                    "{call}: the caller's credentials were not checked"
                )));
            }
        };
        if role == Role::Admin {
            return Ok(());
        }
        if !roles.contains(&role) {
            return Err(AccessError::PermissionDenied(format!(
                "role {} may not call {call}",
                role.name()
            )));
        }
        if role == Role::Agent && (acting_as.is_none() || acting_as != agent) {
            return Err(AccessError::PermissionDenied(format!(
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

    /// The principal behind an `authorization` header value (`None`: no header, or one that is
    /// not text).
    pub fn principal(&self, authorization: Option<&str>) -> Result<Principal, AccessError> {
        if !self.is_enforced() {
            return Ok(Principal::Open);
        }
        let header = authorization
            .ok_or_else(|| AccessError::Unauthenticated("missing bearer token".into()))?;
        let token = header.strip_prefix("Bearer ").ok_or_else(|| {
            AccessError::Unauthenticated("authorization must be `Bearer <token>`".into())
        })?;
        self.tokens
            .get(token.trim())
            .cloned()
            .ok_or_else(|| AccessError::Unauthenticated("unknown token".into()))
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
        assert!(matches!(e, AccessError::PermissionDenied(_)));
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
        assert!(frontend.allow("x", ADMIN_ONLY, None).is_err());
        let admin = Principal::Token {
            role: Role::Admin,
            agent: None,
        };
        assert!(admin.allow("x", ADMIN_ONLY, None).is_ok());
        assert!(admin.allow("x", &[Role::Supervisor], None).is_ok());
        assert!(Principal::Open.allow("x", ADMIN_ONLY, None).is_ok());
        assert!(matches!(
            Principal::Unchecked.allow("x", &[Role::Frontend], None),
            Err(AccessError::Unauthenticated(_))
        ));
    }

    #[test]
    fn a_known_bearer_token_is_needed_when_tokens_are_configured() {
        let auth =
            Authenticator::new(&[token("0123456789abcdef", Role::Supervisor, None)]).unwrap();
        let unauthenticated =
            |h: Option<&str>| matches!(auth.principal(h), Err(AccessError::Unauthenticated(_)));
        assert!(unauthenticated(None));
        assert!(unauthenticated(Some("Bearer nope-nope-nope-nope")));
        assert!(unauthenticated(Some("0123456789abcdef")));
        assert_eq!(
            auth.principal(Some("Bearer 0123456789abcdef")),
            Ok(Principal::Token {
                role: Role::Supervisor,
                agent: None
            })
        );
        assert_eq!(
            Authenticator::default().principal(None),
            Ok(Principal::Open)
        );
    }
}
