//! `keyhaven-service`: run the key service, or manage its users.

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use keyhaven_api::{CreateTenantRequest, Role, Tenant, UpdateTenantRequest};
use keyhaven_service::{
    demo, Service, ServiceConfig, ServiceError, TierRate, DEFAULT_KEY_PREFIX,
    DEFAULT_LOCKOUT_THRESHOLD, DEFAULT_MAX_ACTIVE_KEYS, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_SESSION_RATE_PER_MINUTE, DEFAULT_TIER, MIN_PASSWORD_CHARS, UNLIMITED_DAILY_CAP,
};
use tracing_subscriber::EnvFilter;

/// mimalloc, not glibc's malloc: a connection's buffers are often freed on another worker
/// thread than the one that allocated them, and glibc then takes the first thread's arena lock.
/// Under load that lock was the service's most frequent futex wait (more than tokio's own
/// parking), and a call with a key allocates more than a bare route, so it paid more of it:
/// 5 s of wrk on /v1/ping made about 44,000 futex calls with glibc, 13,000 with mimalloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "keyhaven-service", version, about = "Keyhaven's key service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve(ServeArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage tenants (what an admin does through /v1/admin/tenants).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Print the OpenAPI 3.1 document of the HTTP API (as served at GET /v1/openapi.json).
    Openapi,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// SQLite file (created if missing) or sqlite: URL; a postgres:// or postgresql:// URL
    /// selects PostgreSQL, which several instances may share.
    #[arg(long, env = "KEYHAVEN_DB", required_unless_present = "demo")]
    db: Option<String>,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "KEYHAVEN_LISTEN", default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// Prefix of issued keys.
    #[arg(long, env = "KEYHAVEN_KEY_PREFIX", default_value = DEFAULT_KEY_PREFIX)]
    key_prefix: String,
    #[command(flatten)]
    deployment: DeploymentArgs,
    /// Session lifetime in seconds.
    #[arg(long, env = "KEYHAVEN_SESSION_TTL_SECS", default_value_t = 12 * 60 * 60)]
    session_ttl_secs: u64,
    /// Scopes keys may carry, comma-separated.
    #[arg(
        long,
        env = "KEYHAVEN_SCOPES",
        value_delimiter = ',',
        default_value = "read,write,search"
    )]
    scopes: Vec<String>,
    /// Failed attempts from one IP within the lockout window that lock it out.
    #[arg(long, env = "KEYHAVEN_LOCKOUT_THRESHOLD", default_value_t = DEFAULT_LOCKOUT_THRESHOLD)]
    lockout_threshold: u32,
    /// The lockout window in seconds.
    #[arg(long, env = "KEYHAVEN_LOCKOUT_WINDOW_SECS", default_value_t = 300)]
    lockout_window_secs: u64,
    /// Longest a verified key is served from the cache before storage is read again, in
    /// milliseconds (changes invalidate the cache at once; this is the backstop).
    #[arg(long, env = "KEYHAVEN_KEY_CACHE_MAX_AGE_MS", default_value_t = 1000)]
    key_cache_max_age_ms: u64,
    /// Seconds a client may take to send a request's headers (also the idle time of a kept-alive
    /// connection); then the connection is closed.
    #[arg(long, env = "KEYHAVEN_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    header_read_timeout_secs: u64,
    /// Seconds a request may take once its headers are in, its body included; then it is
    /// answered 408 request_timeout.
    #[arg(long, env = "KEYHAVEN_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    request_timeout_secs: u64,
    /// Most connections open at once; one more is closed as soon as it is accepted.
    #[arg(long, env = "KEYHAVEN_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Management calls one session may make a minute (on each instance); then 429.
    #[arg(long, env = "KEYHAVEN_SESSION_RATE_PER_MINUTE", default_value_t = DEFAULT_SESSION_RATE_PER_MINUTE)]
    session_rate_per_minute: u32,
    /// Seconds a stop (SIGTERM, Ctrl-C) waits for requests in flight before it closes the
    /// connections left and exits.
    #[arg(long, env = "KEYHAVEN_SHUTDOWN_TIMEOUT_SECS", default_value_t = 10)]
    shutdown_timeout_secs: u64,
    /// A reverse proxy (an address or CIDR block) whose X-Forwarded-For names the client;
    /// repeat it (or separate with commas) for several. Connections from anywhere else are
    /// taken for the client itself, whatever they send.
    #[arg(long = "trusted-proxy", env = "KEYHAVEN_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_proxy)]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// Start with a demo tenant, a user of each role and keys (in memory unless --db is given),
    /// print the logins, and send a bounded trickle of demo traffic to 127.0.0.1.
    #[arg(long)]
    demo: bool,
}

/// What the server and the operator's commands must agree on: the tiers and the key cap.
#[derive(Debug, Args)]
struct DeploymentArgs {
    /// Active keys a tenant may hold, unless it is given a cap of its own.
    #[arg(long, env = "KEYHAVEN_MAX_ACTIVE_KEYS", default_value_t = DEFAULT_MAX_ACTIVE_KEYS)]
    max_active_keys: u32,
    /// Tiers: NAME=CAP or NAME=unlimited, the daily cap; with :RATE, a request rate per key as
    /// CALLS/SPAN (1/2s, 1/s, 10/min). Comma-separated or repeated, e.g. free=2000:1/2s.
    #[arg(
        long = "tier",
        env = "KEYHAVEN_TIERS",
        value_delimiter = ',',
        value_parser = parse_tier,
        default_value = "free=10000"
    )]
    tiers: Vec<(String, u32, Option<TierRate>)>,
    /// The tier of tenants not given another.
    #[arg(long, env = "KEYHAVEN_DEFAULT_TIER", default_value = DEFAULT_TIER)]
    default_tier: String,
}

impl DeploymentArgs {
    /// A configuration on `db` with these settings.
    fn config(self, db: String) -> ServiceConfig {
        let mut config = ServiceConfig::new(db);
        config.max_active_keys = self.max_active_keys;
        config.tiers.clear();
        for (name, cap, rate) in self.tiers {
            if let Some(rate) = rate {
                config.tier_rates.insert(name.clone(), rate);
            }
            config.tiers.insert(name, cap);
        }
        config.default_tier = self.default_tier;
        config
    }
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// List every tenant: its tier, suspension, and active keys against its cap.
    List(TenantListArgs),
    /// Add a tenant.
    Add(TenantAddArgs),
    /// Change a tenant's tier, suspension or key cap; it takes effect on every running
    /// instance's next call.
    Set(TenantSetArgs),
}

#[derive(Debug, Args)]
struct TenantListArgs {
    /// SQLite file or sqlite: URL, or a postgres:// URL.
    #[arg(long, env = "KEYHAVEN_DB")]
    db: String,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    deployment: DeploymentArgs,
}

#[derive(Debug, Args)]
struct TenantAddArgs {
    /// SQLite file or sqlite: URL, or a postgres:// URL.
    #[arg(long, env = "KEYHAVEN_DB")]
    db: String,
    /// The new tenant's name (unique).
    #[arg(long)]
    name: String,
    /// Its tier (one of the deployment's); default: the default tier.
    #[arg(long = "in-tier")]
    in_tier: Option<String>,
    #[command(flatten)]
    deployment: DeploymentArgs,
}

#[derive(Debug, Args)]
struct TenantSetArgs {
    /// SQLite file or sqlite: URL, or a postgres:// URL.
    #[arg(long, env = "KEYHAVEN_DB")]
    db: String,
    /// The tenant's id or name.
    tenant: String,
    /// Move it to this tier.
    #[arg(long = "in-tier")]
    in_tier: Option<String>,
    /// Suspend it: its keys are refused (403 tenant_suspended) and it cannot make keys.
    #[arg(long, conflicts_with = "resume")]
    suspend: bool,
    /// Lift a suspension.
    #[arg(long)]
    resume: bool,
    /// Its own cap of active keys, or `default` for the deployment's.
    #[arg(long, value_parser = parse_key_cap)]
    key_cap: Option<KeyCap>,
    #[command(flatten)]
    deployment: DeploymentArgs,
}

#[derive(Debug, Clone, Copy)]
enum KeyCap {
    Own(u32),
    Default,
}

fn parse_key_cap(s: &str) -> Result<KeyCap, String> {
    match s.trim() {
        "default" => Ok(KeyCap::Default),
        n => n
            .parse::<u32>()
            .map(KeyCap::Own)
            .map_err(|_| format!("`{s}` is not a number of keys or `default`")),
    }
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user; the password is read from standard input (one line).
    Add(UserAddArgs),
}

#[derive(Debug, Args)]
struct UserAddArgs {
    /// SQLite file or sqlite: URL, or a postgres:// URL.
    #[arg(long, env = "KEYHAVEN_DB")]
    db: String,
    #[arg(long)]
    email: String,
    /// One of: owner, member, support, admin.
    #[arg(long, value_parser = parse_role)]
    role: Role,
    /// Tenant name; created when it does not exist.
    #[arg(long, default_value = "default")]
    tenant: String,
}

fn parse_tier(s: &str) -> Result<(String, u32, Option<TierRate>), String> {
    let (name, rest) = s.split_once('=').ok_or_else(|| {
        format!("`{s}` is not NAME=CAP[:RATE], e.g. free=2000:1/2s or pro=unlimited")
    })?;
    let (cap, rate) = match rest.split_once(':') {
        Some((cap, rate)) => {
            let rate = TierRate::parse(rate).ok_or_else(|| {
                format!("the rate of tier `{name}` is not CALLS/SPAN, e.g. 1/2s, 1/s or 10/min")
            })?;
            (cap, Some(rate))
        }
        None => (rest, None),
    };
    let cap = match cap.trim() {
        "unlimited" => UNLIMITED_DAILY_CAP,
        cap => cap.parse::<u32>().map_err(|_| {
            format!("the daily cap of tier `{name}` is not a whole number or `unlimited`")
        })?,
    };
    Ok((name.trim().to_owned(), cap, rate))
}

async fn tenant(command: TenantCommand) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    let mut line = |t: &Tenant, json: bool| -> Result<(), CliError> {
        if json {
            let text = serde_json::to_string(t).unwrap_or_default();
            writeln!(out, "{text}")
        } else {
            writeln!(
                out,
                "{}  {}  tier {}  {}  keys {}/{}",
                t.id,
                t.name,
                t.tier,
                if t.suspended { "SUSPENDED" } else { "active" },
                t.active_keys,
                t.key_cap
            )
        }
        .map_err(CliError::Stdout)
    };
    match command {
        TenantCommand::List(args) => {
            let service = Service::open(args.deployment.config(args.db)).await?;
            for t in service.list_tenants().await? {
                line(&t, args.json)?;
            }
        }
        TenantCommand::Add(args) => {
            let service = Service::open(args.deployment.config(args.db)).await?;
            let request = CreateTenantRequest {
                name: args.name,
                tier: args.in_tier,
            };
            line(&service.create_tenant(&request).await?, false)?;
        }
        TenantCommand::Set(args) => {
            let service = Service::open(args.deployment.config(args.db)).await?;
            let request = UpdateTenantRequest {
                tier: args.in_tier,
                suspended: match (args.suspend, args.resume) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
                key_cap: args.key_cap.map(|cap| match cap {
                    KeyCap::Own(n) => Some(n),
                    KeyCap::Default => None,
                }),
            };
            if request == UpdateTenantRequest::default() {
                return Err(CliError::NothingToChange);
            }
            line(&service.update_tenant(&args.tenant, &request).await?, false)?;
        }
    }
    Ok(())
}

/// A trusted proxy: an address (one host) or a CIDR block.
fn parse_proxy(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{s}` is not an IP address or CIDR block, e.g. 10.0.0.0/8 or ::1"))
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s)
        .ok_or_else(|| format!("unknown role `{s}`; valid roles: owner, member, support, admin"))
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("cannot read the password from standard input: {0}")]
    ReadPassword(std::io::Error),
    #[error("the password read from standard input is empty")]
    EmptyPassword,
    #[error("the password must be at least {MIN_PASSWORD_CHARS} characters long")]
    ShortPassword,
    #[error("cannot write to standard output: {0}")]
    Stdout(std::io::Error),
    #[error("nothing to change: give --in-tier, --suspend, --resume or --key-cap")]
    NothingToChange,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        // KEYHAVEN_LOG, as the app and the CLI read it; RUST_LOG where that is what a
        // deployment sets.
        .with_env_filter(
            EnvFilter::try_from_env("KEYHAVEN_LOG")
                .or_else(|_| EnvFilter::try_from_default_env())
                .unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::User(UserCommand::Add(args)) => user_add(args).await,
            Command::Tenant(command) => tenant(command).await,
            Command::Openapi => {
                println!("{}", keyhaven_service::openapi_document());
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), CliError> {
    let db = args.db.unwrap_or_else(|| "sqlite::memory:".to_owned());
    let mut config = args.deployment.config(db);
    config.key_prefix = args.key_prefix;
    config.session_ttl = Duration::from_secs(args.session_ttl_secs);
    config.scopes = args.scopes;
    config.lockout_threshold = args.lockout_threshold;
    config.lockout_window = Duration::from_secs(args.lockout_window_secs);
    config.key_cache_max_age = Duration::from_millis(args.key_cache_max_age_ms);
    config.trusted_proxies = args.trusted_proxies;
    config.header_read_timeout = Duration::from_secs(args.header_read_timeout_secs);
    config.request_timeout = Duration::from_secs(args.request_timeout_secs);
    config.max_connections = args.max_connections;
    config.session_rate_per_minute = args.session_rate_per_minute;
    config.shutdown_timeout = Duration::from_secs(args.shutdown_timeout_secs);
    let service = Service::open(config).await?;
    let running = service.bind(args.listen).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {}", running.url()).map_err(CliError::Stdout)?;
    let demo = if args.demo {
        let demo = service.seed_demo().await?;
        for login in &demo.logins {
            writeln!(out, "{}", describe(login)).map_err(CliError::Stdout)?;
        }
        Some(demo)
    } else {
        None
    };
    out.flush().map_err(CliError::Stdout)?;
    drop(out);
    if let Some(demo) = demo {
        // Bounded: it stops by itself after DEMO_CALLS calls.
        let _traffic = demo.spawn_traffic(running.addr, demo::DEMO_CALLS, demo::DEMO_PACE);
    }
    tracing::info!(addr = %running.addr, "serving");
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}

/// One line per demo login; the owner's comes first, as `demo login: EMAIL password PASSWORD`.
fn describe(login: &demo::DemoLogin) -> String {
    let who = if login.role == Role::Owner {
        "demo login:".to_owned()
    } else {
        format!("demo login ({}):", login.role.as_str())
    };
    match &login.password {
        Some(password) => format!("{who} {} password {password}", login.email),
        None => format!(
            "{who} {} (already exists; its password is unchanged)",
            login.email
        ),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

async fn user_add(args: UserAddArgs) -> Result<(), CliError> {
    let password = read_password()?;
    let service = Service::open(ServiceConfig::new(args.db)).await?;
    let user = service
        .add_user(&args.email, args.role, &args.tenant, &password)
        .await?;
    println!(
        "created user {} <{}> (role {}, tenant {})",
        user.id,
        user.email,
        user.role.as_str(),
        args.tenant.trim()
    );
    Ok(())
}

/// One line from standard input, without its line ending; typed at a terminal, it is not
/// echoed.
fn read_password() -> Result<String, CliError> {
    const PROMPT: &str = "Password (not shown): ";
    let terminal = std::io::stdin().is_terminal();
    // Echo goes off before the prompt shows, so that nothing typed or pasted the moment it
    // appears is shown; where `stty` cannot do that, rpassword prompts and hides the input.
    let echo_off = terminal && set_echo(false);
    let line = if terminal && !echo_off {
        rpassword::prompt_password(PROMPT).map_err(CliError::ReadPassword)?
    } else if echo_off {
        eprint!("{PROMPT}");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let read = std::io::stdin().lock().read_line(&mut line);
        set_echo(true);
        eprintln!();
        read.map_err(CliError::ReadPassword)?;
        line
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(CliError::ReadPassword)?;
        line
    };
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password).to_owned();
    if password.is_empty() {
        return Err(CliError::EmptyPassword);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(CliError::ShortPassword);
    }
    Ok(password)
}

/// Turns the terminal's echo on standard input on or off; false when that could not be done.
fn set_echo(on: bool) -> bool {
    cfg!(unix)
        && std::process::Command::new("stty")
            .arg(if on { "echo" } else { "-echo" })
            .stdin(std::process::Stdio::inherit())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}
