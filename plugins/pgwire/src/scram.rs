//! Server side of SCRAM-SHA-256 (RFC 5802 / RFC 7677) the way PostgreSQL
//! runs it: the user name inside the SCRAM messages is ignored (the
//! startup packet's `user` counts), and no channel binding is offered, so
//! clients send `n,,` or `y,,` and `p=` is refused.
//!
//! Unknown users and roles without a password go through the same exchange
//! with a made-up verifier whose salt is derived from a server secret and
//! the user name, so an attacker cannot tell them from existing users by
//! the salt, the message shapes or the failure.

use std::fmt;

use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use sha2::{Digest, Sha256};

/// The only mechanism we offer.
pub const MECHANISM: &str = "SCRAM-SHA-256";

/// Iteration count of made-up verifiers: PostgreSQL's default, which is
/// what real verifiers made by `make_verifier` use too.
const MOCK_ITERATIONS: u32 = 4096;
const MOCK_SALT_LEN: usize = 16;
/// Random bytes in the server's part of the nonce (PostgreSQL uses 18).
const SERVER_NONCE_LEN: usize = 18;

/// Why an exchange failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScramError {
    /// The client sent a malformed or unexpected message (08P01).
    Protocol(String),
    /// Wrong password, unknown user or a role without a password (28P01).
    /// Deliberately carries nothing that tells these apart.
    AuthFailed,
}

impl ScramError {
    /// The SQLSTATE to report.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            ScramError::Protocol(_) => "08P01",
            ScramError::AuthFailed => "28P01",
        }
    }
}

impl fmt::Display for ScramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScramError::Protocol(m) => write!(f, "malformed SCRAM message: {m}"),
            ScramError::AuthFailed => f.write_str("password authentication failed"),
        }
    }
}

impl std::error::Error for ScramError {}

fn protocol(m: impl Into<String>) -> ScramError {
    ScramError::Protocol(m.into())
}

/// Computes a PostgreSQL SCRAM-SHA-256 verifier for `password`, with a
/// fresh random salt: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
pub fn make_verifier(password: &str) -> String {
    postgres_protocol::password::scram_sha_256(password.as_bytes())
}

/// A parsed verifier as stored in the catalog.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    iterations: u32,
    salt: Vec<u8>,
    stored_key: [u8; 32],
    server_key: [u8; 32],
}

impl fmt::Debug for Verifier {
    // Keys are password equivalents for this server: keep them out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Parses `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`;
    /// `None` for anything else (an MD5 hash, a plain password, garbage).
    pub fn parse(s: &str) -> Option<Verifier> {
        let rest = s.strip_prefix("SCRAM-SHA-256$")?;
        let (params, keys) = rest.split_once('$')?;
        let (iterations, salt) = params.split_once(':')?;
        let (stored, server) = keys.split_once(':')?;
        let iterations: u32 = iterations.parse().ok()?;
        let salt = STANDARD.decode(salt).ok()?;
        if iterations == 0 || salt.is_empty() {
            return None;
        }
        Some(Verifier {
            iterations,
            salt,
            stored_key: STANDARD.decode(stored).ok()?.try_into().ok()?,
            server_key: STANDARD.decode(server).ok()?.try_into().ok()?,
        })
    }

    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    pub fn salt(&self) -> &[u8] {
        &self.salt
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// A made-up verifier for `user`: the same every time for the same user and
/// secret, so repeated probes see a stable salt like a real user's.
fn mock_verifier(mock_secret: &[u8], user: &str) -> Verifier {
    let salt = hmac(mock_secret, &[b"salt\0", user.as_bytes()]);
    Verifier {
        iterations: MOCK_ITERATIONS,
        salt: salt[..MOCK_SALT_LEN].to_vec(),
        stored_key: hmac(mock_secret, &[b"stored\0", user.as_bytes()]),
        server_key: hmac(mock_secret, &[b"server\0", user.as_bytes()]),
    }
}

enum State {
    /// Waiting for client-first-message.
    Start,
    /// server-first-message sent; waiting for client-final-message.
    SentFirst {
        /// client-first-message-bare, part of the AuthMessage.
        client_first_bare: String,
        server_first: String,
        /// Client nonce followed by ours.
        nonce: String,
        /// The GS2 header the client must echo in `c=`.
        gs2_header: &'static [u8],
    },
    /// Finished, successfully or not.
    Done,
}

/// One SCRAM-SHA-256 exchange for one connection.
pub struct ScramServer {
    verifier: Verifier,
    /// No real verifier: fail at the end whatever the client proves.
    doomed: bool,
    state: State,
}

impl ScramServer {
    /// Starts an exchange for `user`. Pass `None` when the user does not
    /// exist or has no SCRAM password; `mock_secret` is a server-wide random
    /// secret that keeps made-up salts stable and unpredictable.
    pub fn new(verifier: Option<Verifier>, mock_secret: &[u8], user: &str) -> ScramServer {
        let doomed = verifier.is_none();
        ScramServer {
            verifier: verifier.unwrap_or_else(|| mock_verifier(mock_secret, user)),
            doomed,
            state: State::Start,
        }
    }

    /// Handles client-first-message; returns server-first-message.
    pub fn client_first(&mut self, data: &[u8]) -> Result<Vec<u8>, ScramError> {
        if !matches!(self.state, State::Start) {
            self.state = State::Done;
            return Err(protocol("unexpected client-first-message"));
        }
        self.state = State::Done;
        let msg = as_text(data)?;

        let (gs2_header, bare): (&'static [u8], &str) =
            match msg.as_bytes().first() {
                Some(b'n') => (b"n,,", msg),
                Some(b'y') => (b"y,,", msg),
                Some(b'p') => return Err(protocol(
                    "the client selected channel binding, which is not offered (use SCRAM-SHA-256)",
                )),
                _ => return Err(protocol("unexpected channel-binding flag")),
            };
        let bare = match bare.get(1..).and_then(|r| r.strip_prefix(',')) {
            Some(r) if r.starts_with("a=") => {
                return Err(protocol(
                    "client uses authorization identity, but it is not supported",
                ))
            }
            Some(r) => r
                .strip_prefix(',')
                .ok_or_else(|| protocol("expected ',' after the GS2 header"))?,
            None => return Err(protocol("expected ',' after the channel-binding flag")),
        };

        let mut attrs = bare.split(',');
        match attrs.next() {
            Some(a) if a.starts_with("m=") => {
                return Err(protocol("client requires an unsupported SCRAM extension"))
            }
            // The name is ignored, as in PostgreSQL: the startup user counts.
            Some(a) if a.starts_with("n=") => {}
            _ => return Err(protocol("expected attribute \"n\"")),
        }
        let client_nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or_else(|| protocol("expected attribute \"r\""))?;
        if client_nonce.is_empty() || !client_nonce.bytes().all(is_nonce_char) {
            return Err(protocol("invalid client nonce"));
        }
        for ext in attrs {
            check_attr(ext)?;
        }

        let mut random = [0u8; SERVER_NONCE_LEN];
        rand::rng().fill_bytes(&mut random);
        let nonce = format!("{client_nonce}{}", STANDARD.encode(random));
        let server_first = format!(
            "r={nonce},s={},i={}",
            STANDARD.encode(&self.verifier.salt),
            self.verifier.iterations
        );
        let reply = server_first.clone().into_bytes();
        self.state = State::SentFirst {
            client_first_bare: bare.to_string(),
            server_first,
            nonce,
            gs2_header,
        };
        Ok(reply)
    }

    /// Handles client-final-message; returns server-final-message
    /// (`v=<ServerSignature>`) when the client proved the password.
    pub fn client_final(&mut self, data: &[u8]) -> Result<Vec<u8>, ScramError> {
        let (client_first_bare, server_first, nonce, gs2_header) =
            match std::mem::replace(&mut self.state, State::Done) {
                State::SentFirst {
                    client_first_bare,
                    server_first,
                    nonce,
                    gs2_header,
                } => (client_first_bare, server_first, nonce, gs2_header),
                _ => return Err(protocol("unexpected client-final-message")),
            };
        let msg = as_text(data)?;

        // The proof is the last attribute; everything before it is signed.
        let (without_proof, proof) = msg
            .rsplit_once(',')
            .ok_or_else(|| protocol("expected attribute \"p\""))?;
        let proof = proof
            .strip_prefix("p=")
            .ok_or_else(|| protocol("expected attribute \"p\""))?;
        let mut attrs = without_proof.split(',');
        let cbind = attrs
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or_else(|| protocol("expected attribute \"c\""))?;
        let cbind = STANDARD
            .decode(cbind)
            .map_err(|_| protocol("invalid channel binding data"))?;
        if cbind != gs2_header {
            return Err(protocol("unexpected SCRAM channel-binding attribute"));
        }
        let final_nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or_else(|| protocol("expected attribute \"r\""))?;
        if final_nonce != nonce {
            return Err(protocol("SCRAM nonce mismatch"));
        }
        for ext in attrs {
            check_attr(ext)?;
        }
        let proof: [u8; 32] = STANDARD
            .decode(proof)
            .ok()
            .and_then(|p| p.try_into().ok())
            .ok_or_else(|| protocol("malformed SCRAM proof"))?;

        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let v = &self.verifier;
        // ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); the
        // client knows the password iff SHA-256(ClientKey) == StoredKey.
        let signature = hmac(&v.stored_key, &[auth_message.as_bytes()]);
        let mut client_key = proof;
        for (k, s) in client_key.iter_mut().zip(signature) {
            *k ^= s;
        }
        let computed: [u8; 32] = Sha256::digest(client_key).into();
        // Constant time: every byte is compared whatever the earlier ones were.
        let diff = computed
            .iter()
            .zip(v.stored_key.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        let server_signature = hmac(&v.server_key, &[auth_message.as_bytes()]);
        if diff != 0 || self.doomed {
            return Err(ScramError::AuthFailed);
        }
        Ok(format!("v={}", STANDARD.encode(server_signature)).into_bytes())
    }
}

/// SCRAM messages are printable text; reject anything else up front so the
/// parsers can work on `str`.
fn as_text(data: &[u8]) -> Result<&str, ScramError> {
    let s = std::str::from_utf8(data).map_err(|_| protocol("message is not valid UTF-8"))?;
    if s.bytes().any(|b| b == 0) {
        return Err(protocol("message contains a NUL byte"));
    }
    Ok(s)
}

/// RFC 5802 `printable` minus ','.
fn is_nonce_char(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && b != b','
}

/// An optional extension attribute: `<letter>=<value>`.
fn check_attr(a: &str) -> Result<(), ScramError> {
    let b = a.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b'=' {
        Ok(())
    } else {
        Err(protocol(format!("malformed SCRAM attribute \"{a}\"")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};

    const SECRET: &[u8] = b"server mock secret";

    fn server_for(password: &str) -> ScramServer {
        let v = Verifier::parse(&make_verifier(password)).unwrap();
        ScramServer::new(Some(v), SECRET, "alice")
    }

    /// Runs a whole exchange; returns the client's verdict on server-final.
    fn exchange(server: &mut ScramServer, password: &str) -> Result<(), ScramError> {
        let mut client = ScramSha256::new(password.as_bytes(), ChannelBinding::unsupported());
        let first = server.client_first(client.message())?;
        client.update(&first).unwrap();
        let last = server.client_final(client.message())?;
        client.finish(&last).unwrap();
        Ok(())
    }

    #[test]
    fn verifier_format() {
        let s = make_verifier("secret");
        assert!(s.starts_with("SCRAM-SHA-256$4096:"), "{s}");
        let v = Verifier::parse(&s).unwrap();
        assert_eq!(v.iterations(), 4096);
        assert_eq!(v.salt().len(), 16);
        assert!(!format!("{v:?}").contains(&STANDARD.encode(v.stored_key)));
        for bad in [
            "",
            "md5abcdef",
            "SCRAM-SHA-256$",
            "SCRAM-SHA-256$4096:c2FsdA==$",
            "SCRAM-SHA-256$0:c2FsdA==$AAAA:AAAA",
            "SCRAM-SHA-256$x:c2FsdA==$AAAA:AAAA",
            "SCRAM-SHA-256$4096:c2FsdA==$AAAA:AAAA",
            "SCRAM-SHA-256$4096:!!$AAAA:AAAA",
        ] {
            assert!(Verifier::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn right_password() {
        let mut server = server_for("pencil");
        exchange(&mut server, "pencil").unwrap();
        // The exchange is over.
        assert!(matches!(
            server.client_final(b"c=biws,r=x,p=AAAA"),
            Err(ScramError::Protocol(_))
        ));
    }

    #[test]
    fn saslprep_password() {
        // Both sides normalise: U+00AA (ª) becomes "a" under SASLprep.
        let mut server = server_for("p\u{aa}ss");
        exchange(&mut server, "p\u{aa}ss").unwrap();
    }

    #[test]
    fn wrong_password() {
        let mut server = server_for("pencil");
        assert_eq!(exchange(&mut server, "pen"), Err(ScramError::AuthFailed));
        assert_eq!(ScramError::AuthFailed.sqlstate(), "28P01");
    }

    fn salt_of(server_first: &[u8]) -> String {
        let s = std::str::from_utf8(server_first).unwrap();
        let parts: Vec<&str> = s.split(',').collect();
        assert_eq!(parts.len(), 3, "{s}");
        assert!(parts[0].starts_with("r=") && parts[2].starts_with("i="));
        parts[1].to_string()
    }

    #[test]
    fn unknown_user_is_indistinguishable() {
        let mut real = server_for("pencil");
        let client = ScramSha256::new(b"pencil", ChannelBinding::unsupported());
        let real_first = real.client_first(client.message()).unwrap();

        let mut attempts = Vec::new();
        for _ in 0..2 {
            let mut server = ScramServer::new(None, SECRET, "mallory");
            let mut client = ScramSha256::new(b"pencil", ChannelBinding::unsupported());
            let first = server.client_first(client.message()).unwrap();
            // Same shape: same lengths of nonce, salt and iteration count.
            assert_eq!(first.len(), real_first.len());
            client.update(&first).unwrap();
            assert_eq!(
                server.client_final(client.message()),
                Err(ScramError::AuthFailed)
            );
            attempts.push(salt_of(&first));
        }
        assert_eq!(attempts[0], attempts[1]);
        let other = ScramServer::new(None, SECRET, "eve")
            .client_first(b"n,,n=,r=abc")
            .unwrap();
        assert_ne!(salt_of(&other), attempts[0]);
        let other_secret = ScramServer::new(None, b"another", "mallory")
            .client_first(b"n,,n=,r=abc")
            .unwrap();
        assert_ne!(salt_of(&other_secret), attempts[0]);
    }

    #[test]
    fn y_flag_is_accepted() {
        let mut server = server_for("pencil");
        let mut client = ScramSha256::new(b"pencil", ChannelBinding::unrequested());
        assert!(client.message().starts_with(b"y,,"));
        let first = server.client_first(client.message()).unwrap();
        client.update(&first).unwrap();
        assert!(client.message().starts_with(b"c=eSws,"));
        let last = server.client_final(client.message()).unwrap();
        client.finish(&last).unwrap();
    }

    #[test]
    fn malformed_client_first() {
        for bad in [
            &b""[..],
            b"n",
            b"x,,n=,r=abc",
            b"p=tls-server-end-point,,n=,r=abc",
            b"n,a=bob,n=,r=abc",
            b"n,,m=ext,n=,r=abc",
            b"n,,r=abc",
            b"n,,n=",
            b"n,,n=,r=",
            b"n,,n=,r=a b",
            b"n,,n=,r=abc,junk",
            b"n,,n=,r=abc\0",
            b"n,,n=,r=\xff",
            b"n;,n=,r=abc",
        ] {
            let mut server = server_for("pencil");
            let r = server.client_first(bad);
            assert!(
                matches!(r, Err(ScramError::Protocol(_))),
                "{:?}: {r:?}",
                String::from_utf8_lossy(bad)
            );
            // A failed exchange cannot be continued.
            assert!(server.client_final(b"c=biws,r=abc,p=AAAA").is_err());
        }
        let mut server = server_for("pencil");
        assert!(server.client_first(b"n,,n=,r=abc,x=ext").is_ok());
        assert!(matches!(
            server.client_first(b"n,,n=,r=abc"),
            Err(ScramError::Protocol(_))
        ));
    }

    /// Drives the client to the point of sending client-final and returns
    /// (server, the message the client would send).
    fn at_final() -> (ScramServer, String) {
        let mut server = server_for("pencil");
        let mut client = ScramSha256::new(b"pencil", ChannelBinding::unsupported());
        let first = server.client_first(client.message()).unwrap();
        client.update(&first).unwrap();
        let msg = String::from_utf8(client.message().to_vec()).unwrap();
        (server, msg)
    }

    #[test]
    fn malformed_client_final() {
        // Each case is built from a fresh exchange's own message, so the only
        // defect is the one the case introduces.
        type Case = fn(&str, &str, &str) -> String;
        let cases: [Case; 11] = [
            |_, _, _| String::new(),
            |_, r, p| format!("{r},{p}"),
            |c, r, _| format!("{c},{r}"),
            |_, r, p| format!("c=eSws,{r},{p}"),
            |_, r, p| format!("c=!!,{r},{p}"),
            |c, _, p| format!("{c},{p}"),
            |c, r, p| format!("{c},{r},{}", &p[..p.len() - 4]),
            |c, r, _| format!("{c},{r},p=not base64"),
            |c, r, p| format!("{c},{r},junk,{p}"),
            |c, r, p| format!("{c},{r},{p},x=1"),
            |c, r, p| format!("{c},{r}\0,{p}"),
        ];
        for (i, case) in cases.iter().enumerate() {
            let (mut server, good) = at_final();
            let (c, rest) = good.split_once(',').unwrap();
            let (r, p) = rest.split_once(',').unwrap();
            assert_eq!(c, "c=biws");
            let msg = case(c, r, p);
            let res = server.client_final(msg.as_bytes());
            assert!(
                matches!(res, Err(ScramError::Protocol(_))),
                "case {i} {msg}: {res:?}"
            );
            assert_eq!(res.unwrap_err().sqlstate(), "08P01");
        }
        // Extensions before the proof are allowed.
        let (mut server, good) = at_final();
        let (head, p) = good.rsplit_once(',').unwrap();
        // The proof signs the message without it, so adding an extension
        // invalidates the proof: authentication fails, not parsing.
        assert_eq!(
            server.client_final(format!("{head},x=1,{p}").as_bytes()),
            Err(ScramError::AuthFailed)
        );
    }

    #[test]
    fn tampered_nonce() {
        let (mut server, good) = at_final();
        let (c, rest) = good.split_once(',').unwrap();
        let (r, p) = rest.split_once(',').unwrap();
        let tampered = format!("{c},{r}x,{p}");
        assert!(matches!(
            server.client_final(tampered.as_bytes()),
            Err(ScramError::Protocol(_))
        ));
        // Server nonce dropped: only the client's part echoed.
        let (mut server, good) = at_final();
        let (c, rest) = good.split_once(',').unwrap();
        let (r, p) = rest.split_once(',').unwrap();
        let short = &r[..r.len() - 24];
        assert!(matches!(
            server.client_final(format!("{c},{short},{p}").as_bytes()),
            Err(ScramError::Protocol(_))
        ));
    }

    #[test]
    fn tampered_proof() {
        let (mut server, good) = at_final();
        let (head, p) = good.rsplit_once(",p=").unwrap();
        let mut proof = STANDARD.decode(p).unwrap();
        proof[0] ^= 1;
        let msg = format!("{head},p={}", STANDARD.encode(proof));
        assert_eq!(
            server.client_final(msg.as_bytes()),
            Err(ScramError::AuthFailed)
        );
    }

    #[test]
    fn server_nonce_is_printable() {
        let mut server = server_for("x");
        let first = server.client_first(b"n,,n=,r=abc").unwrap();
        let s = String::from_utf8(first).unwrap();
        let nonce = s.split(',').next().unwrap().strip_prefix("r=abc").unwrap();
        assert!(nonce.len() >= 24);
        assert!(nonce.bytes().all(is_nonce_char));
    }
}
