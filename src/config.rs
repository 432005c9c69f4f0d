//! Configuration: one struct, read once from `SAFECHECK_*` environment variables over defaults
//! that work with nothing set.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use crate::cidr::Cidr;
use crate::db::DatabaseUrl;

/// How long a worker holds an incident's fan-out without renewing it (each chunk renews it),
/// unless `SAFECHECK_FANOUT_LEASE_SECS` says otherwise.
pub const DEFAULT_FANOUT_LEASE_SECS: i64 = 30;

/// Everything the server and workers need to know, validated.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the database lives; SQLite under the data directory by default.
    pub database_url: DatabaseUrl,
    /// Address the HTTP API listens on (`127.0.0.1:8080`; port 0 picks a free one).
    pub listen: SocketAddr,
    /// Base URL clients and email recipients use to reach this service (links in emails).
    pub public_url: String,
    /// HMAC keys for access tokens: the first signs, every one verifies (key rotation).
    pub jwt_keys: Vec<JwtKey>,
    /// `smtp://` or `smtps://` URL of the mail relay; `None` writes mail as `.eml` files under `data_dir/mail`.
    pub smtp_url: Option<SecretString>,
    /// Sender of every email.
    pub mail_from: String,
    /// Who official updates are from, as emails name it (`SAFECHECK_ORG_NAME`).
    pub org_name: String,
    /// Directory for the SQLite file, the generated JWT secret and file-transport mail.
    pub data_dir: PathBuf,
    /// Connections in the database pool.
    pub db_pool_size: u32,
    /// How long a request waits for a database connection before answering 503.
    pub db_timeout: Duration,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// HTTP worker threads; 0 means one per core.
    pub http_workers: usize,
    /// `text` or `json` log lines.
    pub log_format: LogFormat,
    /// Access token lifetime.
    pub access_token_ttl: Duration,
    /// Refresh token lifetime.
    pub refresh_token_ttl: Duration,
    /// Argon2 cost; tests lower it, production keeps OWASP's recommendation.
    pub argon2: Argon2Params,
    /// Login and registration throttling.
    pub login_throttle: LoginThrottle,
    /// Registrations one client address may attempt within the throttling window.
    pub max_registrations_per_ip: u32,
    /// Proxies whose forwarding header names the client (empty: none is believed).
    pub trusted_proxies: Vec<Cidr>,
    /// The header those proxies append the client's address to.
    pub forwarded_header: ForwardedHeader,
    /// The threads that hash and verify passwords, apart from every other work.
    pub password_pool: PasswordPoolConfig,
    /// On SQLite, answers waiting for the one writer that commits them in groups; beyond, 503.
    pub answer_queue: usize,
    /// A refresh session (a login and its rotations) ends this long after the login at most.
    pub refresh_session_max: Duration,
    /// Locations older than this at activation are not prompted.
    pub location_staleness: chrono::Duration,
    /// Candidate users read per fan-out chunk.
    pub fanout_chunk: i64,
    /// A crashed process's fan-out is taken over this long after its last chunk.
    pub fanout_lease: chrono::Duration,
    /// An activation whose dry run counts more people than this waits for a second operator's
    /// approval (`SAFECHECK_APPROVAL_THRESHOLD`).
    pub approval_threshold: u64,
    /// How long it waits before it is rejected (`SAFECHECK_APPROVAL_TIMEOUT_SECS`).
    pub approval_timeout: chrono::Duration,
    /// Whether this process runs the background jobs (`serve` and `worker` do by default).
    pub run_workers: bool,
    /// Email delivery.
    pub delivery: DeliveryConfig,
    /// Which background jobs this process runs (`SAFECHECK_JOBS`, comma-separated).
    pub jobs: Vec<String>,
    /// How often users who have not answered may be reminded.
    pub reminders: ReminderConfig,
    /// Who may read `GET /metrics`.
    pub metrics: MetricsConfig,
    /// How long data is kept: housekeeping deletes it after that.
    pub retention: RetentionConfig,
    /// How often one user may answer and send locations.
    pub user_limits: UserLimits,
    /// Limits on invitations to newly listed contacts.
    pub invitations: InvitationConfig,
}

/// How long data is kept once it is no longer of use (locations: `location_staleness`).
#[derive(Clone, Copy, Debug)]
pub struct RetentionConfig {
    /// An `Idempotency-Key` replays its response this long, then is deleted.
    pub idempotency_key_ttl: chrono::Duration,
    /// An incident's per-person rows (prompts, check-ins and their messages, answers, outbox
    /// rows) are deleted this long after it ended; its counts and the audit log are kept.
    pub incident_data: chrono::Duration,
    /// Rows one housekeeping statement deletes at most.
    pub batch: i64,
    /// How often housekeeping runs (purges, expired tokens and counters).
    pub housekeeping_interval: std::time::Duration,
}

/// Requests one user may make per `window`, each kind on its own: far more than a person makes,
/// so that only scripts meet them.
#[derive(Clone, Copy, Debug)]
pub struct UserLimits {
    pub check_ins: u32,
    pub location_updates: u32,
    pub window: chrono::Duration,
}

/// Limits on invitations: a user invites at most so many addresses a day, and an address gets
/// at most one invitation per period, whoever lists it.
#[derive(Clone, Copy, Debug)]
pub struct InvitationConfig {
    /// Invitations one user may send in 24 hours (beyond: 429 with `Retry-After`).
    pub max_per_user_per_day: i64,
    /// An address invited by anyone is not invited again within this.
    pub address_period: chrono::Duration,
}

/// Limits on reminder emails to prompted users who have not answered.
#[derive(Clone, Copy, Debug)]
pub struct ReminderConfig {
    /// At most one email (prompt or reminder) per user in this time.
    pub min_interval: Duration,
    /// Reminders a user gets per incident at most.
    pub max_per_user: i32,
}

/// `GET /metrics` is served only when one of these is set.
#[derive(Clone, Debug, Default)]
pub struct MetricsConfig {
    /// Scrapers send `Authorization: Bearer <token>`.
    pub token: Option<SecretString>,
    /// A second listener serving only `/metrics`, without a token (bind it to a private address).
    pub listen: Option<SocketAddr>,
}

/// The background jobs, by name.
pub const JOB_NAMES: [&str; 5] = ["housekeeping", "fanout", "notices", "expiry", "delivery"];

/// SMTP connections per process unless `SAFECHECK_SMTP_CONNECTIONS` says otherwise.
pub const DEFAULT_SMTP_CONNECTIONS: usize = 16;

/// How the outbox is delivered, and the abuse limits.
#[derive(Clone, Copy, Debug)]
pub struct DeliveryConfig {
    /// Messages one address may be sent in an hour (beyond: recorded as dropped).
    pub max_per_recipient_per_hour: i64,
    /// Attempts before a message is marked failed.
    pub max_attempts: i32,
    /// First retry delay; doubles each time.
    pub retry_base: Duration,
    /// Messages one claim takes; delivery claims again when half of them went out.
    pub batch: i64,
    /// SMTP connections open at once, and so messages in flight, per process.
    pub smtp_connections: usize,
    /// A claim's lease.
    pub lease: Duration,
}

/// One HMAC key for HS256 access tokens, named by its `kid`.
#[derive(Clone, Debug)]
pub struct JwtKey {
    pub kid: String,
    pub secret: SecretString,
}

/// Argon2id cost parameters.
#[derive(Clone, Copy, Debug)]
pub struct Argon2Params {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Params {
    /// OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
    fn default() -> Self {
        Self { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 }
    }
}

/// Login throttling. Per (account, client address): `free_failures` attempts, then each
/// further attempt waits `delay_base` doubled per failure beyond, at most `delay_max`; an
/// account is never locked for every address. Per client address: `max_failures_per_ip`
/// attempts within `window`.
#[derive(Clone, Copy, Debug)]
pub struct LoginThrottle {
    pub free_failures: u32,
    pub delay_base: Duration,
    pub delay_max: Duration,
    pub max_failures_per_ip: u32,
    pub window: Duration,
}

/// Which header trusted proxies write. Only one is read: a proxy that appends to one passes
/// the other through as the client wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, ...`
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1, ...`
    Forwarded,
}

/// The password hashing pool: `threads` hashing at once, `queue` more waiting; beyond, 503.
#[derive(Clone, Copy, Debug)]
pub struct PasswordPoolConfig {
    pub threads: usize,
    pub queue: usize,
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// A variable that is set but unusable; start-up stops with this message.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

/// The smallest HS256 key we accept (RFC 7518 §3.2: at least the hash size).
pub const MIN_JWT_SECRET_BYTES: usize = 32;

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the process environment.
    /// The JWT secret is not generated here; see [`Config::ensure_jwt_secret`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let data_dir = PathBuf::from(get("SAFECHECK_DATA_DIR").unwrap_or_else(|| "./data".into()));
        let database_url = match get("SAFECHECK_DATABASE_URL") {
            Some(url) => DatabaseUrl::parse(&url)
                .map_err(|problem| ConfigError { variable: "SAFECHECK_DATABASE_URL", problem })?,
            None => DatabaseUrl::Sqlite(data_dir.join("safecheck.db")),
        };
        let listen: SocketAddr = parse(&get, "SAFECHECK_LISTEN", "127.0.0.1:8080".parse().ok())?;
        let public_url = match get("SAFECHECK_PUBLIC_URL") {
            Some(url) => validate_public_url(&url)?,
            None => format!("http://{listen}"),
        };
        let mut jwt_keys = Vec::new();
        if let Some(secret) = get("SAFECHECK_JWT_SECRET") {
            jwt_keys.push(jwt_key("SAFECHECK_JWT_SECRET", secret)?);
        }
        if let Some(secret) = get("SAFECHECK_JWT_PREVIOUS_SECRET") {
            if jwt_keys.is_empty() {
                return Err(ConfigError {
                    variable: "SAFECHECK_JWT_PREVIOUS_SECRET",
                    problem: "set only together with SAFECHECK_JWT_SECRET".into(),
                });
            }
            jwt_keys.push(jwt_key("SAFECHECK_JWT_PREVIOUS_SECRET", secret)?);
        }
        let smtp_url = get("SAFECHECK_SMTP_URL").map(smtp_url).transpose()?;
        let log_format = match get("SAFECHECK_LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError {
                    variable: "SAFECHECK_LOG_FORMAT",
                    problem: format!("`{other}` is neither `text` nor `json`"),
                });
            }
        };
        if get("SAFECHECK_LOGIN_MAX_FAILURES_PER_ACCOUNT").is_some() {
            return Err(ConfigError {
                variable: "SAFECHECK_LOGIN_MAX_FAILURES_PER_ACCOUNT",
                problem: "is gone: an account is no longer locked for every address; set \
                          SAFECHECK_LOGIN_FREE_FAILURES (per account and client address) instead"
                    .into(),
            });
        }
        let defaults = Argon2Params::default();
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Ok(Self {
            database_url,
            listen,
            public_url,
            jwt_keys,
            smtp_url,
            mail_from: mail_from(get("SAFECHECK_MAIL_FROM"))?,
            org_name: org_name(get("SAFECHECK_ORG_NAME"))?,
            data_dir,
            db_pool_size: positive(&get, "SAFECHECK_DB_POOL_SIZE", 10)?,
            db_timeout: Duration::from_millis(positive(&get, "SAFECHECK_DB_TIMEOUT_MS", 5000)?),
            max_body_bytes: positive(&get, "SAFECHECK_MAX_BODY_BYTES", 1024 * 1024)?,
            http_workers: parse(&get, "SAFECHECK_HTTP_WORKERS", Some(0))?,
            log_format,
            access_token_ttl: Duration::from_secs(positive(&get, "SAFECHECK_ACCESS_TOKEN_TTL_SECS", 900)?),
            refresh_token_ttl: Duration::from_secs(positive(
                &get,
                "SAFECHECK_REFRESH_TOKEN_TTL_SECS",
                30 * 24 * 3600,
            )?),
            argon2: Argon2Params {
                memory_kib: positive(&get, "SAFECHECK_ARGON2_MEMORY_KIB", defaults.memory_kib)?,
                iterations: positive(&get, "SAFECHECK_ARGON2_ITERATIONS", defaults.iterations)?,
                parallelism: positive(&get, "SAFECHECK_ARGON2_PARALLELISM", defaults.parallelism)?,
            },
            login_throttle: LoginThrottle {
                free_failures: positive(&get, "SAFECHECK_LOGIN_FREE_FAILURES", 5)?,
                delay_base: Duration::from_secs(positive(&get, "SAFECHECK_LOGIN_DELAY_BASE_SECS", 1)?),
                delay_max: Duration::from_secs(positive(&get, "SAFECHECK_LOGIN_DELAY_MAX_SECS", 900)?),
                max_failures_per_ip: positive(&get, "SAFECHECK_LOGIN_MAX_FAILURES_PER_IP", 50)?,
                window: Duration::from_secs(positive(&get, "SAFECHECK_LOGIN_WINDOW_SECS", 900)?),
            },
            max_registrations_per_ip: positive(&get, "SAFECHECK_REGISTER_MAX_PER_IP", 10)?,
            trusted_proxies: trusted_proxies(get("SAFECHECK_TRUSTED_PROXIES"))?,
            forwarded_header: match get("SAFECHECK_FORWARDED_HEADER")
                .map(|h| h.to_ascii_lowercase())
                .as_deref()
            {
                None | Some("x-forwarded-for") => ForwardedHeader::XForwardedFor,
                Some("forwarded") => ForwardedHeader::Forwarded,
                Some(_) => {
                    return Err(ConfigError {
                        variable: "SAFECHECK_FORWARDED_HEADER",
                        problem: "must be `x-forwarded-for` or `forwarded`".into(),
                    });
                }
            },
            password_pool: PasswordPoolConfig {
                threads: positive(&get, "SAFECHECK_PASSWORD_THREADS", cores)?,
                queue: positive(&get, "SAFECHECK_PASSWORD_QUEUE", 4 * cores)?,
            },
            answer_queue: positive(&get, "SAFECHECK_ANSWER_QUEUE", 1024)?,
            refresh_session_max: Duration::from_secs(positive(
                &get,
                "SAFECHECK_REFRESH_SESSION_MAX_SECS",
                90 * 24 * 3600,
            )?),
            location_staleness: positive_seconds(&get, "SAFECHECK_LOCATION_STALENESS_SECS", 24 * 3600)?,
            fanout_chunk: positive(&get, "SAFECHECK_FANOUT_CHUNK", 10_000)?,
            fanout_lease: positive_seconds(&get, "SAFECHECK_FANOUT_LEASE_SECS", DEFAULT_FANOUT_LEASE_SECS)?,
            approval_threshold: positive(&get, "SAFECHECK_APPROVAL_THRESHOLD", 10_000)?,
            approval_timeout: positive_seconds(&get, "SAFECHECK_APPROVAL_TIMEOUT_SECS", 900)?,
            run_workers: parse(&get, "SAFECHECK_RUN_WORKERS", Some(true))?,
            jobs: job_names(get("SAFECHECK_JOBS"))?,
            delivery: DeliveryConfig {
                max_per_recipient_per_hour: positive(
                    &get,
                    "SAFECHECK_MAX_EMAILS_PER_RECIPIENT_PER_HOUR",
                    20,
                )?,
                max_attempts: positive(&get, "SAFECHECK_DELIVERY_MAX_ATTEMPTS", 8)?,
                retry_base: Duration::from_millis(positive(&get, "SAFECHECK_DELIVERY_RETRY_BASE_MS", 5000)?),
                batch: positive(&get, "SAFECHECK_DELIVERY_BATCH", 256)?,
                smtp_connections: positive(&get, "SAFECHECK_SMTP_CONNECTIONS", DEFAULT_SMTP_CONNECTIONS)?,
                lease: Duration::from_secs(positive(&get, "SAFECHECK_DELIVERY_LEASE_SECS", 60)?),
            },
            invitations: InvitationConfig {
                max_per_user_per_day: positive(&get, "SAFECHECK_MAX_INVITATIONS_PER_USER_PER_DAY", 20)?,
                address_period: positive_seconds(&get, "SAFECHECK_INVITATION_PERIOD_SECS", 30 * 24 * 3600)?,
            },
            reminders: ReminderConfig {
                min_interval: Duration::from_secs(positive(&get, "SAFECHECK_REMINDER_INTERVAL_SECS", 1800)?),
                max_per_user: positive(&get, "SAFECHECK_REMINDER_MAX_PER_USER", 3)?,
            },
            metrics: MetricsConfig {
                token: metrics_token(get("SAFECHECK_METRICS_TOKEN"))?,
                listen: get("SAFECHECK_METRICS_LISTEN")
                    .map(|_| parse(&get, "SAFECHECK_METRICS_LISTEN", None))
                    .transpose()?,
            },
            retention: RetentionConfig {
                idempotency_key_ttl: positive_seconds(&get, "SAFECHECK_IDEMPOTENCY_KEY_TTL_SECS", 24 * 3600)?,
                incident_data: positive_days(&get, "SAFECHECK_INCIDENT_RETENTION_DAYS", 30)?,
                batch: positive(&get, "SAFECHECK_RETENTION_BATCH", 1000)?,
                housekeeping_interval: std::time::Duration::from_secs(positive(
                    &get,
                    "SAFECHECK_HOUSEKEEPING_INTERVAL_SECS",
                    300,
                )?),
            },
            user_limits: UserLimits {
                check_ins: positive(&get, "SAFECHECK_CHECK_IN_LIMIT", 30)?,
                location_updates: positive(&get, "SAFECHECK_LOCATION_UPDATE_LIMIT", 120)?,
                window: positive_seconds(&get, "SAFECHECK_USER_LIMIT_WINDOW_SECS", 600)?,
            },
        })
    }

    /// With no `SAFECHECK_JWT_SECRET`, use the secret stored in the data directory, generating
    /// and storing one the first time. Returns the path when a secret was generated or loaded.
    pub fn ensure_jwt_secret(&mut self) -> anyhow::Result<Option<(PathBuf, bool)>> {
        if !self.jwt_keys.is_empty() {
            return Ok(None);
        }
        let path = self.data_dir.join("jwt_secret");
        let (secret, generated) = crate::secret_file::load_or_generate(&path)?;
        self.jwt_keys.push(jwt_key("the data directory's jwt_secret", secret)?);
        Ok(Some((path, generated)))
    }

    /// The SQLite file's directory and the data directory exist after this.
    pub fn create_dirs(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.data_dir)?;
        if let DatabaseUrl::Sqlite(path) = &self.database_url
            && let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)?;
        }
        Ok(())
    }

    /// Where mail goes when no SMTP server is configured.
    pub fn mail_dir(&self) -> PathBuf {
        self.data_dir.join("mail")
    }
}

fn jwt_key(variable: &'static str, secret: String) -> Result<JwtKey, ConfigError> {
    if secret.len() < MIN_JWT_SECRET_BYTES {
        return Err(ConfigError {
            variable,
            problem: format!("must be at least {MIN_JWT_SECRET_BYTES} bytes long"),
        });
    }
    Ok(JwtKey { kid: kid_of(&secret), secret: SecretString::from(secret) })
}

/// A key's id is derived from the key itself (the first 8 bytes of its SHA-256, in hex), so a
/// key keeps its id whichever variable holds it: after a rotation, the previous key still
/// recognises the tokens it signed when it was the current one. 64 bits of a hash of a secret of
/// at least 256 bits tell an attacker nothing useful.
fn kid_of(secret: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(secret.as_bytes())[..8])
}

/// `smtp://` (STARTTLS) or `smtps://` (TLS); mail may travel in clear text (`?tls=none`, or
/// `?tls=opportunistic`, which a man in the middle downgrades) only to a relay on this machine.
fn smtp_url(url: String) -> Result<SecretString, ConfigError> {
    let refuse = |problem: &str| ConfigError { variable: "SAFECHECK_SMTP_URL", problem: problem.to_owned() };
    if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
        return Err(refuse("must start with smtp:// (STARTTLS) or smtps:// (TLS)"));
    }
    // The URL may hold a password: the messages say what is wrong, never the URL.
    let parsed = url::Url::parse(&url).map_err(|_| refuse("is not a valid URL"))?;
    let tls = parsed.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.into_owned());
    let clear_text = parsed.scheme() == "smtp" && matches!(tls.as_deref(), Some("none" | "opportunistic"));
    if clear_text && !is_loopback_host(parsed.host()) {
        return Err(refuse(
            "sends mail without TLS (tls=none or tls=opportunistic), which is allowed only to a relay on \
             loopback (127.0.0.0/8, ::1, localhost); use smtps:// or smtp:// with STARTTLS for any other host",
        ));
    }
    Ok(SecretString::from(url))
}

fn is_loopback_host(host: Option<url::Host<&str>>) -> bool {
    match host {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        // `smtp` is not a scheme the URL standard knows, so its IPv4 hosts come as names.
        Some(url::Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost")
                || name.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
        }
        None => false,
    }
}

fn trusted_proxies(raw: Option<String>) -> Result<Vec<Cidr>, ConfigError> {
    raw.iter()
        .flat_map(|raw| raw.split(','))
        .map(str::trim)
        .filter(|cidr| !cidr.is_empty())
        .map(|cidr| {
            cidr.parse().map_err(|problem| ConfigError { variable: "SAFECHECK_TRUSTED_PROXIES", problem })
        })
        .collect()
}

fn job_names(raw: Option<String>) -> Result<Vec<String>, ConfigError> {
    let Some(raw) = raw else { return Ok(JOB_NAMES.iter().map(|n| (*n).to_owned()).collect()) };
    let names: Vec<String> = raw.split(',').map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).collect();
    match names.iter().find(|n| !JOB_NAMES.contains(&n.as_str())) {
        Some(unknown) => Err(ConfigError {
            variable: "SAFECHECK_JOBS",
            problem: format!("unknown job `{unknown}`; the jobs are {}", JOB_NAMES.join(", ")),
        }),
        None => Ok(names),
    }
}

fn metrics_token(raw: Option<String>) -> Result<Option<SecretString>, ConfigError> {
    match raw {
        // A scrape token guards operational data: too short is too guessable.
        Some(token) if token.len() < 16 => Err(ConfigError {
            variable: "SAFECHECK_METRICS_TOKEN",
            problem: "must be at least 16 characters".into(),
        }),
        token => Ok(token.map(SecretString::from)),
    }
}

/// The organisation's name, 1 to 100 characters without control characters; "safecheck" when
/// unset.
fn org_name(raw: Option<String>) -> Result<String, ConfigError> {
    let value = raw.map(|v| v.trim().to_owned()).unwrap_or_else(|| "safecheck".into());
    if value.is_empty() || value.chars().count() > 100 || value.chars().any(char::is_control) {
        return Err(ConfigError {
            variable: "SAFECHECK_ORG_NAME",
            problem: "must be 1 to 100 characters, without control characters".into(),
        });
    }
    Ok(value)
}

fn mail_from(raw: Option<String>) -> Result<String, ConfigError> {
    let value = raw.unwrap_or_else(|| "safecheck <no-reply@safecheck.invalid>".into());
    match value.parse::<lettre::message::Mailbox>() {
        Ok(_) => Ok(value),
        Err(e) => {
            Err(ConfigError { variable: "SAFECHECK_MAIL_FROM", problem: format!("not a mailbox: {e}") })
        }
    }
}

fn validate_public_url(url: &str) -> Result<String, ConfigError> {
    let trimmed = url.trim_end_matches('/');
    let ok = (trimmed.starts_with("http://") || trimmed.starts_with("https://"))
        && trimmed.split("://").nth(1).is_some_and(|rest| !rest.is_empty());
    if ok {
        Ok(trimmed.to_owned())
    } else {
        Err(ConfigError {
            variable: "SAFECHECK_PUBLIC_URL",
            problem: "must be an absolute http:// or https:// URL".into(),
        })
    }
}

fn parse<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: Option<T>,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match get(variable) {
        Some(raw) => {
            raw.parse().map_err(|e| ConfigError { variable, problem: format!("`{raw}` is not valid: {e}") })
        }
        None => default.ok_or(ConfigError { variable, problem: "must be set".into() }),
    }
}

fn positive<T>(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + Default + Copy,
    T::Err: std::fmt::Display,
{
    let value = parse(get, variable, Some(default))?;
    if value > T::default() {
        Ok(value)
    } else {
        Err(ConfigError { variable, problem: "must be greater than 0".into() })
    }
}

/// A positive number of seconds, as a duration to add to or take from stored times.
fn positive_seconds(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: i64,
) -> Result<chrono::Duration, ConfigError> {
    chrono::Duration::try_seconds(positive(get, variable, default)?)
        .ok_or(ConfigError { variable, problem: "is too large".into() })
}

/// A positive number of days, as a duration.
fn positive_days(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: i64,
) -> Result<chrono::Duration, ConfigError> {
    chrono::Duration::try_days(positive(get, variable, default)?)
        .ok_or(ConfigError { variable, problem: "is too large".into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> =
            vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::from_lookup(move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults_work_with_nothing_set() {
        let config = with(&[]).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.public_url, "http://127.0.0.1:8080");
        assert!(
            matches!(config.database_url, DatabaseUrl::Sqlite(ref p) if p.ends_with("data/safecheck.db"))
        );
        assert!(config.jwt_keys.is_empty());
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let err = with(&[("SAFECHECK_LISTEN", "nope")]).unwrap_err();
        assert_eq!(err.variable, "SAFECHECK_LISTEN");
        let err = with(&[("SAFECHECK_DATABASE_URL", "mysql://x")]).unwrap_err();
        assert_eq!(err.variable, "SAFECHECK_DATABASE_URL");
        let err = with(&[("SAFECHECK_JWT_SECRET", "short")]).unwrap_err();
        assert_eq!(err.variable, "SAFECHECK_JWT_SECRET");
        let err = with(&[("SAFECHECK_DB_POOL_SIZE", "0")]).unwrap_err();
        assert_eq!(err.variable, "SAFECHECK_DB_POOL_SIZE");
        let err = with(&[("SAFECHECK_SMTP_URL", "http://mail")]).unwrap_err();
        assert_eq!(err.variable, "SAFECHECK_SMTP_URL");
    }

    #[test]
    fn retention_and_user_limits_have_defaults_and_refuse_nonsense_by_name() {
        let config = with(&[]).unwrap();
        assert_eq!(config.retention.idempotency_key_ttl, chrono::Duration::hours(24));
        assert_eq!(config.retention.incident_data, chrono::Duration::days(30));
        assert_eq!(config.retention.housekeeping_interval, std::time::Duration::from_secs(300));
        assert_eq!((config.user_limits.check_ins, config.user_limits.location_updates), (30, 120));
        assert_eq!(config.user_limits.window, chrono::Duration::minutes(10));
        for variable in [
            "SAFECHECK_IDEMPOTENCY_KEY_TTL_SECS",
            "SAFECHECK_INCIDENT_RETENTION_DAYS",
            "SAFECHECK_RETENTION_BATCH",
            "SAFECHECK_HOUSEKEEPING_INTERVAL_SECS",
            "SAFECHECK_CHECK_IN_LIMIT",
            "SAFECHECK_LOCATION_UPDATE_LIMIT",
            "SAFECHECK_USER_LIMIT_WINDOW_SECS",
        ] {
            assert_eq!(with(&[(variable, "0")]).unwrap_err().variable, variable);
            assert_eq!(with(&[(variable, "soon")]).unwrap_err().variable, variable);
        }
        let err = with(&[("SAFECHECK_INCIDENT_RETENTION_DAYS", "999999999999999")]).unwrap_err();
        assert_eq!(err.variable, "SAFECHECK_INCIDENT_RETENTION_DAYS");
    }

    #[test]
    fn a_keys_id_follows_the_key_not_the_variable_holding_it() {
        let (a, b) = ("a".repeat(MIN_JWT_SECRET_BYTES), "b".repeat(MIN_JWT_SECRET_BYTES));
        let before = with(&[("SAFECHECK_JWT_SECRET", &a)]).unwrap();
        let after = with(&[("SAFECHECK_JWT_SECRET", &b), ("SAFECHECK_JWT_PREVIOUS_SECRET", &a)]).unwrap();
        assert_eq!(before.jwt_keys[0].kid, after.jwt_keys[1].kid);
        assert_ne!(after.jwt_keys[0].kid, after.jwt_keys[1].kid);
        assert_eq!(after.jwt_keys[0].kid.len(), 16);
    }

    #[test]
    fn trusted_proxies_are_cidrs_and_none_by_default() {
        assert!(with(&[]).unwrap().trusted_proxies.is_empty());
        let config = with(&[("SAFECHECK_TRUSTED_PROXIES", "10.0.0.0/8, ::1")]).unwrap();
        assert_eq!(config.trusted_proxies.len(), 2);
        let err = with(&[("SAFECHECK_TRUSTED_PROXIES", "10.0.0.0/8,nope")]).unwrap_err();
        assert_eq!(err.variable, "SAFECHECK_TRUSTED_PROXIES");
        let err = with(&[("SAFECHECK_LOGIN_MAX_FAILURES_PER_ACCOUNT", "5")]).unwrap_err();
        assert!(err.to_string().contains("SAFECHECK_LOGIN_FREE_FAILURES"));
    }

    #[test]
    fn smtp_without_tls_is_refused_unless_the_relay_is_on_loopback() {
        for url in [
            "smtp://127.0.0.1:25?tls=none",
            "smtp://127.0.0.2:2525?tls=none",
            "smtp://[::1]:25?tls=none",
            "smtp://localhost:25?tls=opportunistic",
            "smtp://user:pass@mail.example.org:587",
            "smtps://mail.example.org",
        ] {
            assert!(with(&[("SAFECHECK_SMTP_URL", url)]).is_ok(), "{url} should be accepted");
        }
        for url in [
            "smtp://mail.example.org:25?tls=none",
            "smtp://user:hunter2@10.0.0.5:25?tls=none",
            "smtp://192.168.1.2?tls=opportunistic",
            "smtp://localhost.example.org?tls=none",
        ] {
            let err = with(&[("SAFECHECK_SMTP_URL", url)]).unwrap_err();
            assert_eq!(err.variable, "SAFECHECK_SMTP_URL");
            assert!(err.to_string().contains("loopback"), "{err}");
            assert!(!err.to_string().contains("hunter2"), "the password leaked: {err}");
        }
    }
}
