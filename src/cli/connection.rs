//! The connection options an export and `check` share: the hosts from the region or the base
//! URLs, the OAuth client from the environment and a secret file, the request timeout and the
//! retry policy; and the validated `check` (`CheckConfig`). Pure: the environment and the
//! secret-file reader come in through `Outside`.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

use super::options::{REGION_ENV, SECRET_FILE_ENV};
use super::raw::RawArgs;
use super::values::{count, duration, log_format};
use super::{Outside, SecretFile, MAX_SECRET_FILE_BYTES};
use crate::api;
use crate::auth::Credentials;
use crate::check;
use crate::exit::usage;
use crate::filters::shown;
use crate::http;
use crate::proxy::Route;
use crate::report::LogFormat;
use crate::retry::Policy;

/// A validated `check`: the connection settings of an export.
#[derive(Debug)]
pub struct CheckConfig {
    /// The hosts, or why the region names none (a check that fails, not a usage error).
    pub hosts: Result<check::Hosts, String>,
    /// Direct or through a proxy, per host (both direct when the region is unknown).
    pub routes: http::Routes,
    pub credentials: Credentials,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
    pub policy: Policy,
    /// How the report lines (stdout) and the log lines (stderr) are written.
    pub log_format: LogFormat,
    /// Lines to show as warnings first (a secret file others may read).
    pub warnings: Vec<String>,
}

impl CheckConfig {
    /// Validates the options of `check`. A region that names no known one is left for the
    /// check to report; every other bad value is a usage error, as for an export.
    pub fn from_raw(raw: RawArgs, outside: &Outside) -> Result<CheckConfig> {
        let env = outside.env;
        let (timeout, policy) = retry_policy(&raw)?;
        let log_format = log_format(raw.value("--log-format"), env)?;
        let mut warnings = Vec::new();
        let credentials = credentials(raw.value("--client-secret-file"), outside, &mut warnings)?;
        let region = region(&raw, env);
        let direct = http::Routes {
            api: Route::Direct,
            login: Route::Direct,
        };
        let (hosts, routes) = match region.as_deref() {
            Some(r) if api::region_domain(r).is_none() => (Err(unknown_region(r)), direct),
            _ => {
                let (api_base, login_base) = hosts(&raw, env)?;
                let routes = http::routes(&api_base, &login_base, env).map_err(usage)?;
                let hosts = check::Hosts {
                    region,
                    login_base,
                    api_base,
                };
                (Ok(hosts), routes)
            }
        };
        Ok(CheckConfig {
            hosts,
            routes,
            credentials,
            ca_file: raw.value("--ca-file").map(PathBuf::from),
            timeout,
            policy,
            log_format,
            warnings,
        })
    }
}

/// The timeout of each request and the retry policy.
pub fn retry_policy(raw: &RawArgs) -> Result<(Duration, Policy)> {
    let timeout = duration(raw, "--timeout")?;
    let max_retries = count(raw, "--max-retries")?;
    let policy = Policy {
        max_retries,
        initial_backoff: duration(raw, "--backoff")?,
        max_total_wait: duration(raw, "--max-wait")?,
        ..Policy::default()
    };
    Ok((timeout, policy))
}

/// The first non-empty value among the environment variables `names`.
fn first_env(env: &dyn Fn(&str) -> Option<String>, names: &[&str]) -> Option<String> {
    names
        .iter()
        .filter_map(|name| env(name))
        .map(|v| v.trim().to_string())
        .find(|v| !v.is_empty())
}

/// The OAuth client: its id from the environment, its secret from `--client-secret-file`,
/// else the file `GENESYSCLOUD_OAUTHCLIENT_SECRET_FILE` names, else the environment.
pub fn credentials(
    secret_file: Option<&str>,
    outside: &Outside,
    warnings: &mut Vec<String>,
) -> Result<Credentials> {
    let env = outside.env;
    let id = first_env(env, &["GENESYSCLOUD_OAUTHCLIENT_ID", "GENESYS_CLIENT_ID"]);
    let file = match secret_file {
        Some(path) => Some(("--client-secret-file", path.to_string())),
        None => first_env(env, &[SECRET_FILE_ENV]).map(|path| (SECRET_FILE_ENV, path)),
    };
    let secret = match file {
        Some((source, path)) => Some(secret_from_file(
            source,
            Path::new(&path),
            outside.read_secret,
            warnings,
        )?),
        None => first_env(
            env,
            &["GENESYSCLOUD_OAUTHCLIENT_SECRET", "GENESYS_CLIENT_SECRET"],
        ),
    };
    match (id, secret) {
        (Some(id), Some(secret)) => Ok(Credentials::new(id, secret)),
        (None, _) => Err(usage(
            "missing client id: set GENESYSCLOUD_OAUTHCLIENT_ID to the OAuth client's id",
        )),
        (_, None) => Err(usage(
            "missing client secret: set GENESYSCLOUD_OAUTHCLIENT_SECRET to the OAuth client's secret, or name a file holding it with GENESYSCLOUD_OAUTHCLIENT_SECRET_FILE or --client-secret-file",
        )),
    }
}

/// The secret in the file at `path` (named by `source`): UTF-8, its trailing line ending
/// dropped, not empty. A file its group or others may read adds a warning.
fn secret_from_file(
    source: &str,
    path: &Path,
    read: &dyn Fn(&Path) -> io::Result<SecretFile>,
    warnings: &mut Vec<String>,
) -> Result<String> {
    // Escaped but never shortened: the whole path is the fix.
    let named = || format!("{source} {}", path.display().to_string().escape_debug());
    let file = read(path).map_err(|e| {
        usage(format!(
            "cannot read the client secret from {}: {}; name a readable file",
            named(),
            shown(&e.to_string())
        ))
    })?;
    if file.bytes.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(usage(format!(
            "{} is larger than {} KiB, too large to hold a client secret: name the file holding only the secret",
            named(),
            MAX_SECRET_FILE_BYTES / 1024
        )));
    }
    let text = String::from_utf8(file.bytes).map_err(|_| {
        usage(format!(
            "{} is not UTF-8 text: name the file holding only the secret",
            named()
        ))
    })?;
    let secret = text.trim_end_matches(['\n', '\r']);
    if secret.is_empty() {
        return Err(usage(format!(
            "{} is empty: write the OAuth client's secret into it",
            named()
        )));
    }
    if file.shared {
        warnings.push(format!(
            "{} is readable by its group or others: chmod 600 it",
            named()
        ));
    }
    Ok(secret.to_string())
}

/// The region: `--region`, else the first set one of `GENESYSCLOUD_REGION` and
/// `GENESYS_REGION`.
fn region(raw: &RawArgs, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    raw.value("--region")
        .map(str::to_string)
        .or_else(|| first_env(env, &[REGION_ENV, "GENESYS_REGION"]))
}

/// The message for a region that names no known one.
fn unknown_region(region: &str) -> String {
    format!(
        "unknown region '{}': use a region such as eu-west-1 or us-east-1, or a domain such as mypurecloud.ie",
        shown(region)
    )
}

/// Works out the API and login base URLs from the flags and the region.
pub fn hosts(raw: &RawArgs, env: &dyn Fn(&str) -> Option<String>) -> Result<(String, String)> {
    let domain = match region(raw, env) {
        Some(r) => Some(api::region_domain(&r).ok_or_else(|| usage(unknown_region(&r)))?),
        None => None,
    };
    let checked = |flag: &str, url: &str| http::check_base(flag, url).map_err(usage);
    let api_base = match (raw.value("--api-base"), &domain) {
        (Some(url), _) => checked("--api-base", url)?,
        (None, Some(domain)) => checked("the region", &format!("https://api.{domain}"))?,
        (None, None) => {
            return Err(usage(
                "missing region: set GENESYSCLOUD_REGION (e.g. eu-west-1 or mypurecloud.ie) or pass --region",
            ))
        }
    };
    let login_base = match (raw.value("--login-base"), &domain) {
        (Some(url), _) => checked("--login-base", url)?,
        (None, _) if api_base.contains("//api.") => api_base.replacen("//api.", "//login.", 1),
        (None, Some(domain)) => checked("the region", &format!("https://login.{domain}"))?,
        (None, None) => {
            return Err(usage(
                "missing --login-base: it cannot be derived from an --api-base without 'api.' in its host",
            ))
        }
    };
    Ok((api_base, login_base))
}
