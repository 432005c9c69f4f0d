//! `safecheck user`: accounts made from the command line, for the first operators and admins.

use std::io::BufRead;

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::auth::PasswordHasher;
use crate::auth::accounts::{self, CreateAccountError, NewAccount, RoleChanger};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::db::{self, DatabaseUrl};
use crate::domain::{DisplayName, Email, Locale, Password, Role};

/// Account commands; they work on the database directly, no server needed.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account. The password is asked for without echo, or read from standard input
    /// with --password-stdin.
    Create {
        #[arg(long)]
        email: String,
        /// user, operator or admin.
        #[arg(long, default_value = "user", value_parser = parse_role)]
        role: Role,
        /// Name shown to contacts; defaults to the part of the email before the @.
        #[arg(long)]
        display_name: Option<String>,
        /// en or fr.
        #[arg(long, default_value = "en")]
        locale: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Give an existing account a role (user, operator or admin).
    Grant {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
}

fn parse_role(raw: &str) -> Result<Role, &'static str> {
    raw.parse()
}

/// Runs an account command.
pub fn run(command: UserCommand, config: &Config) -> anyhow::Result<()> {
    db::prepare(&config.database_url)?;
    match command {
        UserCommand::Create { email, role, display_name, locale, password_stdin } => {
            let email = Email::parse(&email).map_err(|m| anyhow::anyhow!("--email {m}"))?;
            let locale: Locale = locale.parse().map_err(|m| anyhow::anyhow!("--locale {m}"))?;
            let default_name = email.as_str().split('@').next().unwrap_or("user").to_owned();
            let name = DisplayName::parse(display_name.as_deref().unwrap_or(&default_name))
                .map_err(|m| anyhow::anyhow!("--display-name {m}"))?;
            let password = Password::parse(read_password(password_stdin)?)
                .map_err(|m| anyhow::anyhow!("password {m}"))?;
            let password_hash = PasswordHasher::new(config.argon2)?.hash(password.expose())?;
            let shown = email.to_string();
            let account = NewAccount { email, display_name: name, locale, role, password_hash };
            let mut conn = connect(&config.database_url)?;
            let user = match accounts::create(&mut conn, account, SystemClock.now()) {
                Ok(user) => user,
                Err(CreateAccountError::EmailTaken) => bail!("an account with email {shown} already exists"),
                Err(CreateAccountError::Database(e)) => return Err(e.into()),
            };
            println!("created {} ({}) with role {role}", user.email, user.id);
        }
        UserCommand::Grant { email, role } => {
            let email = Email::parse(&email).map_err(|m| anyhow::anyhow!("--email {m}"))?;
            let mut conn = connect(&config.database_url)?;
            let user = db::users::find_by_email(&mut conn, email.as_str())?
                .with_context(|| format!("no account with email {email}"))?;
            accounts::grant_role(&mut conn, &user.id, role, RoleChanger::CommandLine, SystemClock.now())?;
            println!("{email} now has role {role}");
        }
    }
    Ok(())
}

fn connect(url: &DatabaseUrl) -> anyhow::Result<db::DbConn> {
    db::pool_connect(url).context("cannot connect to the database")
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let first = rpassword::prompt_password("Password: ")
        .context("cannot read the password (use --password-stdin without a terminal)")?;
    let second = rpassword::prompt_password("Password again: ")?;
    if first != second {
        bail!("the two passwords differ");
    }
    Ok(first)
}
