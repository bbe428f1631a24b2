//! Command-line arguments, parsed by hand (the workspace has no argument
//! parser and this tool needs a dozen flags), validated once here so the rest
//! of the tool can trust them. The environment is read by `main` and handed
//! in, so parsing stays a pure function the tests can drive.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// What `--help` prints, and what a usage error points at.
pub(crate) const USAGE: &str = "\
liveshop-load: registers sellers, holds their sockets, publishes, and reports delivery.

USAGE:
    liveshop-load --publish-url URL [--ingest-key KEY] [OPTIONS]

OPTIONS:
    --publish-url URL          base URL for HTTP: register/login, publish, checks (http:// only)
    --socket-url URL           where sockets connect; repeat to spread them round-robin
                               [default: the publish URL]
    --ingest-key KEY           the server's INGEST_API_KEY [default: env INGEST_API_KEY]
    --sellers N                sellers to register or reuse [default: 10]
    --sockets-per-seller K     sockets each seller holds [default: 1]
    --rate R                   notifications per second in total; 0 = as fast as possible
                               [default: 100]
    --concurrency C            requests in flight when --rate is 0 [default: 16]
    --count N                  notifications to publish [default: 1000]
    --duration SECS            publish for this long instead of --count
    --batch B                  1 = POST /api/notifications; 2..=500 = the batch endpoint,
                               B notifications per request [default: 1]
    --settle SECS              after the last publish, how long to wait for delivery
                               [default: 30]
    --seller-prefix P          seller emails are P-<i>@load.test [default: load]
    --json PATH                write the machine-readable report there
    --quiet                    no progress on stderr
    -h, --help                 print this and exit

EXIT STATUS:
    0 every accepted notification reached every socket of its seller and is acknowledged
    1 something accepted was missing or not acknowledged
    2 usage or setup error
";

/// How much to publish.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Amount {
    Count(u64),
    Duration(Duration),
}

/// The ingest key, kept out of `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct IngestKey(pub(crate) String);

impl fmt::Debug for IngestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IngestKey(***)")
    }
}

/// A validated run configuration.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Options {
    /// Without a trailing slash.
    pub(crate) publish_url: String,
    /// At least one; without trailing slashes.
    pub(crate) socket_urls: Vec<String>,
    pub(crate) ingest_key: IngestKey,
    pub(crate) sellers: usize,
    pub(crate) sockets_per_seller: usize,
    /// Notifications per second in total; 0 means as fast as `concurrency` allows.
    pub(crate) rate: f64,
    pub(crate) concurrency: usize,
    pub(crate) amount: Amount,
    /// 1..=500 (the contract's batch limit).
    pub(crate) batch: usize,
    pub(crate) settle: Duration,
    pub(crate) seller_prefix: String,
    pub(crate) json: Option<PathBuf>,
    pub(crate) quiet: bool,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Command {
    Run(Box<Options>),
    Help,
}

/// A command line that cannot run, with the reason in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UsageError(pub(crate) String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The contract's batch limit: 1 to 500 items per request.
const BATCH_MAX: usize = 500;

/// Parses the arguments after the program name. `env_ingest_key` is
/// `INGEST_API_KEY` from the environment, used when `--ingest-key` is absent.
///
/// # Errors
/// An unknown flag, a missing or malformed value, or a combination that
/// cannot run (both `--count` and `--duration`, no ingest key, …).
pub(crate) fn parse(
    args: impl IntoIterator<Item = String>,
    env_ingest_key: Option<String>,
) -> Result<Command, UsageError> {
    let mut raw = Raw::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name.to_owned(), Some(value.to_owned())),
            _ => (arg, None),
        };
        if matches!(name.as_str(), "-h" | "--help" | "--quiet") {
            if inline.is_some() {
                return Err(usage(format!("{name} takes no value")));
            }
            if name == "--quiet" {
                raw.quiet = true;
                continue;
            }
            return Ok(Command::Help);
        }
        let value = match inline {
            Some(value) => value,
            None => args.next().ok_or_else(|| usage(format!("{name} needs a value")))?,
        };
        match name.as_str() {
            "--publish-url" => raw.publish_url = Some(value),
            "--socket-url" => raw.socket_urls.push(value),
            "--ingest-key" => raw.ingest_key = Some(value),
            "--sellers" => raw.sellers = Some(number(&name, &value)?),
            "--sockets-per-seller" => raw.sockets_per_seller = Some(number(&name, &value)?),
            "--rate" => raw.rate = Some(real(&name, &value)?),
            "--concurrency" => raw.concurrency = Some(number(&name, &value)?),
            "--count" => raw.count = Some(number(&name, &value)?),
            "--duration" => raw.duration = Some(real(&name, &value)?),
            "--batch" => raw.batch = Some(number(&name, &value)?),
            "--settle" => raw.settle = Some(real(&name, &value)?),
            "--seller-prefix" => raw.seller_prefix = Some(value),
            "--json" => raw.json = Some(PathBuf::from(value)),
            _ => return Err(usage(format!("unknown argument {name}"))),
        }
    }
    raw.validate(env_ingest_key).map(|options| Command::Run(Box::new(options)))
}

/// The flags as given, before defaults and cross-checks.
#[derive(Debug, Default)]
struct Raw {
    publish_url: Option<String>,
    socket_urls: Vec<String>,
    ingest_key: Option<String>,
    sellers: Option<u64>,
    sockets_per_seller: Option<u64>,
    rate: Option<f64>,
    concurrency: Option<u64>,
    count: Option<u64>,
    duration: Option<f64>,
    batch: Option<u64>,
    settle: Option<f64>,
    seller_prefix: Option<String>,
    json: Option<PathBuf>,
    quiet: bool,
}

impl Raw {
    fn validate(self, env_ingest_key: Option<String>) -> Result<Options, UsageError> {
        let publish_url = self.publish_url.ok_or_else(|| usage("--publish-url is required"))?;
        // The HTTP client is built without TLS (the workspace's reqwest has no
        // TLS feature); sockets use their own client, which has it.
        let publish_url = base_url("--publish-url", &publish_url, &["http://"])?;
        let socket_urls = if self.socket_urls.is_empty() {
            vec![publish_url.clone()]
        } else {
            self.socket_urls
                .iter()
                .map(|url| base_url("--socket-url", url, &["http://", "https://"]))
                .collect::<Result<_, _>>()?
        };
        let ingest_key = self
            .ingest_key
            .or(env_ingest_key)
            .filter(|key| !key.is_empty())
            .ok_or_else(|| usage("an ingest key is required: --ingest-key KEY or env INGEST_API_KEY"))?;

        let sellers = at_least_one("--sellers", self.sellers.unwrap_or(10))?;
        let sockets_per_seller = at_least_one("--sockets-per-seller", self.sockets_per_seller.unwrap_or(1))?;
        let concurrency = at_least_one("--concurrency", self.concurrency.unwrap_or(16))?;
        let batch = at_least_one("--batch", self.batch.unwrap_or(1))?;
        if batch > BATCH_MAX {
            return Err(usage(format!("--batch must be 1 to {BATCH_MAX} (the batch endpoint's limit)")));
        }
        let rate = self.rate.unwrap_or(100.0);
        if !(rate.is_finite() && rate >= 0.0) {
            return Err(usage("--rate must be 0 (as fast as possible) or a positive number"));
        }
        let amount = match (self.count, self.duration) {
            (Some(_), Some(_)) => return Err(usage("give --count or --duration, not both")),
            (Some(0), None) => return Err(usage("--count must be at least 1")),
            (Some(count), None) => Amount::Count(count),
            (None, Some(secs)) => Amount::Duration(seconds("--duration", secs, false)?),
            (None, None) => Amount::Count(1000),
        };
        if let (Amount::Duration(duration), true) = (amount, rate > 0.0)
            && (rate * duration.as_secs_f64()).round() < 1.0
        {
            return Err(usage("--rate × --duration publishes nothing; raise one of them"));
        }
        let settle = seconds("--settle", self.settle.unwrap_or(30.0), true)?;
        let seller_prefix = self.seller_prefix.unwrap_or_else(|| "load".to_owned());
        let prefix_ok = !seller_prefix.is_empty()
            && seller_prefix.len() <= 40
            && seller_prefix.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !prefix_ok {
            return Err(usage("--seller-prefix must be 1 to 40 characters of a-z, A-Z, 0-9, '.', '_', '-'"));
        }
        Ok(Options {
            publish_url,
            socket_urls,
            ingest_key: IngestKey(ingest_key),
            sellers,
            sockets_per_seller,
            rate,
            concurrency,
            amount,
            batch,
            settle,
            seller_prefix,
            json: self.json,
            quiet: self.quiet,
        })
    }
}

fn usage(message: impl Into<String>) -> UsageError {
    UsageError(message.into())
}

fn number(name: &str, value: &str) -> Result<u64, UsageError> {
    value.trim().parse().map_err(|_| usage(format!("{name} wants a whole number, not {value:?}")))
}

fn real(name: &str, value: &str) -> Result<f64, UsageError> {
    value.trim().parse().map_err(|_| usage(format!("{name} wants a number, not {value:?}")))
}

fn at_least_one(name: &str, value: u64) -> Result<usize, UsageError> {
    match usize::try_from(value) {
        Ok(value) if value >= 1 => Ok(value),
        _ => Err(usage(format!("{name} must be at least 1"))),
    }
}

fn seconds(name: &str, secs: f64, zero_ok: bool) -> Result<Duration, UsageError> {
    let ok = secs.is_finite() && (secs > 0.0 || (zero_ok && secs == 0.0)) && secs < 1e9;
    if ok {
        Ok(Duration::from_secs_f64(secs))
    } else {
        Err(usage(format!("{name} must be a positive number of seconds")))
    }
}

/// A base URL with one of `schemes`, without its trailing slash (paths are
/// appended to it).
fn base_url(name: &str, url: &str, schemes: &[&str]) -> Result<String, UsageError> {
    let trimmed = url.trim().trim_end_matches('/');
    let host = schemes.iter().find_map(|scheme| trimmed.strip_prefix(scheme));
    match host {
        Some(rest) if !rest.is_empty() => Ok(trimmed.to_owned()),
        _ => Err(usage(format!("{name} must be a URL starting with {}, not {url:?}", schemes.join(" or ")))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_line(line: &str) -> Result<Command, UsageError> {
        parse(line.split_whitespace().map(str::to_owned), None)
    }

    fn options(line: &str) -> Options {
        match parse_line(line) {
            Ok(Command::Run(options)) => *options,
            other => panic!("expected options, got {other:?}"),
        }
    }

    fn error(line: &str) -> String {
        match parse_line(line) {
            Err(UsageError(message)) => message,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_fill_everything_but_the_url_and_key() {
        let o = options("--publish-url http://127.0.0.1:3001/ --ingest-key k");
        assert_eq!(o.publish_url, "http://127.0.0.1:3001");
        assert_eq!(o.socket_urls, vec!["http://127.0.0.1:3001".to_owned()]);
        assert_eq!((o.sellers, o.sockets_per_seller, o.concurrency, o.batch), (10, 1, 16, 1));
        assert_eq!(o.rate, 100.0);
        assert_eq!(o.amount, Amount::Count(1000));
        assert_eq!(o.settle, Duration::from_secs(30));
        assert_eq!(o.seller_prefix, "load");
        assert!(!o.quiet && o.json.is_none());
    }

    #[test]
    fn repeated_socket_urls_and_inline_values_are_kept() {
        let o = options(
            "--publish-url=http://lb --socket-url http://a:1 --socket-url=http://b:2/ --ingest-key=k \
             --duration 60 --rate 0 --batch 50 --quiet --json out.json",
        );
        assert_eq!(o.socket_urls, vec!["http://a:1".to_owned(), "http://b:2".to_owned()]);
        assert_eq!(o.amount, Amount::Duration(Duration::from_secs(60)));
        assert_eq!((o.rate, o.batch, o.quiet), (0.0, 50, true));
        assert_eq!(o.json, Some(PathBuf::from("out.json")));
    }

    #[test]
    fn the_ingest_key_comes_from_the_environment_when_not_given() {
        let args = ["--publish-url", "http://x"].map(str::to_owned);
        let parsed = parse(args, Some("from-env".to_owned()));
        let Ok(Command::Run(o)) = parsed else { panic!("expected options") };
        assert_eq!(o.ingest_key, IngestKey("from-env".to_owned()));
        assert_eq!(format!("{:?}", o.ingest_key), "IngestKey(***)");
    }

    #[test]
    fn help_wins_over_everything_else() {
        assert_eq!(parse_line("--sellers 3 --help"), Ok(Command::Help));
        assert_eq!(parse_line("-h"), Ok(Command::Help));
    }

    #[test]
    fn bad_command_lines_are_named() {
        assert!(error("--ingest-key k").contains("--publish-url is required"));
        assert!(error("--publish-url http://x").contains("ingest key is required"));
        assert!(error("--publish-url https://x --ingest-key k").contains("http://"));
        assert!(error("--publish-url x --ingest-key k").contains("http://"));
        assert!(
            error("--publish-url http://x --ingest-key k --bogus 1").contains("unknown argument --bogus")
        );
        assert!(error("--publish-url http://x --ingest-key k --sellers").contains("--sellers needs a value"));
        assert!(error("--publish-url http://x --ingest-key k --sellers ten").contains("whole number"));
        assert!(error("--publish-url http://x --ingest-key k --sellers 0").contains("at least 1"));
        assert!(error("--publish-url http://x --ingest-key k --count 5 --duration 5").contains("not both"));
        assert!(error("--publish-url http://x --ingest-key k --batch 501").contains("1 to 500"));
        assert!(error("--publish-url http://x --ingest-key k --rate -1").contains("--rate"));
        assert!(error("--publish-url http://x --ingest-key k --settle -1").contains("--settle"));
        assert!(error("--publish-url http://x --ingest-key k --quiet=yes").contains("takes no value"));
        assert!(
            error("--publish-url http://x --ingest-key k --seller-prefix a@b").contains("--seller-prefix")
        );
        assert!(error("--publish-url http://x --ingest-key k --rate 0.1 --duration 1").contains("nothing"));
    }
}
