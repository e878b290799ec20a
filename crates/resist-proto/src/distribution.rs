//! The distributor's API bodies: proxies for a user, and the funder's
//! invitations. Shared by the coordinator (which documents them in its
//! OpenAPI document) and the CLI.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Most invitations one request may create.
pub const MAX_INVITATIONS_PER_REQUEST: u32 = 100;
/// Longest invitation label, in characters.
pub const MAX_LABEL_CHARS: usize = 100;
/// Longest invitation token accepted from a user (tokens issued are 32 hex
/// digits; anything longer is refused before it is hashed).
pub const MAX_TOKEN_LEN: usize = 128;

/// One proxy as a user gets it: where it is, and the links that open it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProxyView {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// SOCKS5 user name, if the proxy wants one.
    pub username: Option<String>,
    /// SOCKS5 password, if the proxy wants one.
    pub password: Option<String>,
    /// `tg://socks?server=…&port=…[&user=…&pass=…]`: opens Telegram's proxy settings.
    pub tg: String,
    /// `https://t.me/socks?…`: the same, through a browser.
    pub https: String,
}

/// `GET /api/proxies` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProxiesView {
    /// The requester's proxies, best first (empty when none works right now).
    pub proxies: Vec<ProxyView>,
    /// Said when the list is empty: no working proxy right now, try later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `POST /api/admin/invitations`: create invitation tokens. Only a JSON
/// object is accepted (serde alone would also take an array of the fields,
/// which for a struct of optional fields means `[]` would create one).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct CreateInvitationsRequest {
    /// A note for the funder (to whom it goes); at most 100 characters, no
    /// control characters. Empty if left out.
    #[schema(max_length = 100)]
    pub label: Option<String>,
    /// How many tokens to create (1 to 100, default 1), all with this label.
    #[schema(minimum = 1, maximum = 100)]
    pub count: Option<u32>,
}

impl<'de> Deserialize<'de> for CreateInvitationsRequest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Fields {
            #[serde(default)]
            label: Option<String>,
            #[serde(default)]
            count: Option<u32>,
        }
        struct ObjectOnly;
        impl<'de> serde::de::Visitor<'de> for ObjectOnly {
            type Value = Fields;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object such as {\"label\": \"for Alice\", \"count\": 1}")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Fields, A::Error> {
                Fields::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        let f = d.deserialize_map(ObjectOnly)?;
        Ok(CreateInvitationsRequest {
            label: f.label,
            count: f.count,
        })
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn create_request_is_an_object_only() {
        let r: CreateInvitationsRequest =
            serde_json::from_str(r#"{"label":"a","count":2}"#).unwrap();
        assert_eq!(r.label.as_deref(), Some("a"));
        assert_eq!(r.count, Some(2));
        let r: CreateInvitationsRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(r, CreateInvitationsRequest::default());
        for bad in ["[]", "[null, null]", "null", "1", r#"{"lable":"x"}"#] {
            assert!(
                serde_json::from_str::<CreateInvitationsRequest>(bad).is_err(),
                "{bad}"
            );
        }
    }
}

/// An invitation, without its token (which is shown only when created).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InvitationView {
    /// Its id (for `revoke`).
    pub id: i64,
    /// The funder's note.
    pub label: String,
    /// When it was created (Unix seconds).
    pub created_at: i64,
    /// When it was revoked (Unix seconds), if it was.
    pub revoked_at: Option<i64>,
}

/// A new invitation, with its token: shown this once, stored only hashed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IssuedInvitation {
    /// Its id (for `revoke`).
    pub id: i64,
    /// The funder's note.
    pub label: String,
    /// When it was created (Unix seconds).
    pub created_at: i64,
    /// The token to give: the user opens `/proxies?invite=TOKEN`.
    pub token: String,
}

/// `POST /api/admin/invitations` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InvitationsIssued {
    /// The new invitations, in id order.
    pub invitations: Vec<IssuedInvitation>,
}
