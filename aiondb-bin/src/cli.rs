//! Command-line parsing for the `aiondb` binary.
//!
//! Hand-written rather than clap-based to keep the binary's dependency tree
//! small. The parser only maps flags to configuration keys; values are
//! validated once, by `Config::load`, so the CLI and the environment cannot
//! disagree about what is valid. The bootstrap credentials are the exception:
//! they are checked here so a mistake fails before anything starts.

use std::fmt;
use std::path::PathBuf;

use aiondb_kernel::config::{check_password_policy, keys};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Help,
    Version,
    Serve(Overrides),
    Plugins(Overrides),
    Doctor {
        data_dir: PathBuf,
        overrides: Overrides,
    },
    Upgrade {
        data_dir: PathBuf,
        overrides: Overrides,
    },
    Dump {
        data_dir: PathBuf,
        output: PathBuf,
        overrides: Overrides,
    },
    Restore {
        data_dir: PathBuf,
        input: PathBuf,
        overrides: Overrides,
    },
}

/// Configuration key -> raw value, fed to `Config::load` as the CLI layer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides(pub Vec<(&'static str, String)>);

impl Overrides {
    /// The raw value given for a key, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CliError(pub String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

fn err(message: impl Into<String>) -> CliError {
    CliError(message.into())
}

// Which commands accept a flag, as a bit set.
const SERVE: u8 = 1;
const PLUGINS: u8 = 1 << 1;
const MAINTENANCE: u8 = 1 << 2; // doctor and upgrade
const DUMP: u8 = 1 << 3;
const RESTORE: u8 = 1 << 4;
const STORAGE_COMMANDS: u8 = SERVE | MAINTENANCE | DUMP | RESTORE;
const ALL_COMMANDS: u8 = STORAGE_COMMANDS | PLUGINS;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    /// `--flag VALUE` sets the key to VALUE.
    Key(&'static str),
    /// `--flag` (no value) sets the key to a fixed value.
    Switch(&'static str, &'static str),
    /// Subcommand arguments that are not configuration.
    Output,
    Input,
}

struct Flag {
    name: &'static str,
    target: Target,
    value_name: &'static str,
    scope: u8,
    help: &'static str,
}

const fn flag(
    name: &'static str,
    target: Target,
    value_name: &'static str,
    scope: u8,
    help: &'static str,
) -> Flag {
    Flag {
        name,
        target,
        value_name,
        scope,
        help,
    }
}

static FLAGS: &[Flag] = &[
    flag(
        "--ephemeral",
        Target::Switch(keys::EPHEMERAL, "true"),
        "",
        SERVE,
        "Keep all data in memory and discard it at shutdown",
    ),
    flag(
        "--listen-addr",
        Target::Key(keys::LISTEN_ADDR),
        "ADDR",
        SERVE,
        "host:port of the PostgreSQL wire listener [127.0.0.1:5432]",
    ),
    flag(
        "--data-dir",
        Target::Key(keys::DATA_DIR),
        "PATH",
        STORAGE_COMMANDS,
        "Data directory [./data/aiondb]",
    ),
    flag(
        "--storage-backend",
        Target::Key(keys::STORAGE_BACKEND),
        "NAME",
        STORAGE_COMMANDS,
        "in_memory, durable, disk, page_engine or lsm [durable]",
    ),
    flag(
        "--bootstrap-user",
        Target::Key(keys::BOOTSTRAP_USER),
        "NAME",
        SERVE,
        "Superuser to create on first start (needs --bootstrap-password)",
    ),
    flag(
        "--bootstrap-password",
        Target::Key(keys::BOOTSTRAP_PASSWORD),
        "PW",
        SERVE,
        "Its password: 12+ characters with lower, upper, digit and symbol \
         (visible in process listings; prefer AIONDB_BOOTSTRAP_PASSWORD)",
    ),
    flag(
        "--allow-unencrypted-storage",
        Target::Switch(keys::ALLOW_UNENCRYPTED_STORAGE, "true"),
        "",
        STORAGE_COMMANDS,
        "Allow persistent storage on an unencrypted filesystem",
    ),
    flag(
        "--observability-bind",
        Target::Key(keys::OBSERVABILITY_BIND),
        "ADDR",
        SERVE,
        "IP address of the metrics endpoint [127.0.0.1]",
    ),
    flag(
        "--observability-port",
        Target::Key(keys::OBSERVABILITY_PORT),
        "PORT",
        SERVE,
        "Port of the metrics endpoint [9187]",
    ),
    flag(
        "--no-observability",
        Target::Switch(keys::OBSERVABILITY_ENABLED, "false"),
        "",
        SERVE,
        "Do not serve the metrics endpoint",
    ),
    flag(
        "--plugin-dir",
        Target::Key(keys::PLUGIN_DIR),
        "PATH",
        ALL_COMMANDS,
        "Directory scanned for plugin shared libraries",
    ),
    flag(
        "--plugins",
        Target::Key(keys::PLUGINS),
        "LIST",
        ALL_COMMANDS,
        "Plugins to load: all, none or a comma list of names [all]",
    ),
    flag(
        "--output",
        Target::Output,
        "FILE",
        DUMP,
        "File the dump is written to, relative to the data directory; never overwritten (dump)",
    ),
    flag(
        "--input",
        Target::Input,
        "FILE",
        RESTORE,
        "Dump file to restore from, relative to the data directory (restore)",
    ),
];

fn find_flag(name: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| f.name == name)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sub {
    Serve,
    Plugins,
    Doctor,
    Upgrade,
    Dump,
    Restore,
}

impl Sub {
    fn from_word(word: &str) -> Option<Sub> {
        Some(match word {
            "serve" => Sub::Serve,
            "plugins" => Sub::Plugins,
            "doctor" => Sub::Doctor,
            "upgrade" => Sub::Upgrade,
            "dump" => Sub::Dump,
            "restore" => Sub::Restore,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Sub::Serve => "serve",
            Sub::Plugins => "plugins",
            Sub::Doctor => "doctor",
            Sub::Upgrade => "upgrade",
            Sub::Dump => "dump",
            Sub::Restore => "restore",
        }
    }

    fn scope(self) -> u8 {
        match self {
            Sub::Serve => SERVE,
            Sub::Plugins => PLUGINS,
            Sub::Doctor | Sub::Upgrade => MAINTENANCE,
            Sub::Dump => DUMP,
            Sub::Restore => RESTORE,
        }
    }
}

/// Parses the arguments after argv[0]. The subcommand is the first positional
/// word and may come after flags; without one the command is `serve`.
pub fn parse(args: &[String]) -> Result<Command, CliError> {
    let mut sub: Option<Sub> = None;
    let mut given: Vec<(&'static Flag, String)> = Vec::new();
    let mut rest = args.iter();

    while let Some(arg) = rest.next() {
        let arg = arg.as_str();
        if arg == "-h" || arg == "--help" {
            return Ok(Command::Help);
        }
        if arg == "-V" || arg == "--version" {
            return Ok(Command::Version);
        }
        if !arg.starts_with('-') {
            if sub.is_some() {
                return Err(err(format!("unexpected argument '{arg}'")));
            }
            sub = Some(
                Sub::from_word(arg).ok_or_else(|| err(format!("unknown subcommand '{arg}'")))?,
            );
            continue;
        }

        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (arg, None),
        };
        let flag = find_flag(name).ok_or_else(|| err(format!("unknown option '{name}'")))?;
        if given.iter().any(|(f, _)| f.name == flag.name) {
            return Err(err(format!("option '{name}' given more than once")));
        }
        let value = match (flag.target, inline) {
            (Target::Switch(_, fixed), None) => fixed.to_string(),
            (Target::Switch(..), Some(_)) => {
                return Err(err(format!("option '{name}' does not take a value")));
            }
            (_, Some(value)) => value.to_string(),
            (_, None) => match rest.next() {
                // A following option almost always means the value was
                // forgotten; a value that really starts with "--" can use
                // the --flag=VALUE form.
                Some(next) if !next.starts_with("--") => next.clone(),
                _ => {
                    return Err(err(format!(
                        "option '{name}' requires a value ({name} {} or {name}={})",
                        flag.value_name, flag.value_name
                    )));
                }
            },
        };
        given.push((flag, value));
    }

    let sub = sub.unwrap_or(Sub::Serve);
    build(sub, given)
}

fn build(sub: Sub, given: Vec<(&'static Flag, String)>) -> Result<Command, CliError> {
    let mut overrides = Overrides::default();
    let mut output = None;
    let mut input = None;
    for (flag, value) in given {
        if flag.scope & sub.scope() == 0 {
            return Err(err(format!(
                "option '{}' is not accepted by '{}'",
                flag.name,
                sub.name()
            )));
        }
        match flag.target {
            Target::Key(key) | Target::Switch(key, _) => overrides.0.push((key, value)),
            Target::Output => output = Some(PathBuf::from(value)),
            Target::Input => input = Some(PathBuf::from(value)),
        }
    }

    check_bootstrap(&overrides)?;

    let required = |what: &str, value: Option<PathBuf>| {
        value.ok_or_else(|| err(format!("'{}' requires {what}", sub.name())))
    };
    let data_dir = || {
        required(
            "--data-dir PATH",
            overrides.get(keys::DATA_DIR).map(PathBuf::from),
        )
    };
    Ok(match sub {
        Sub::Serve => Command::Serve(overrides),
        Sub::Plugins => Command::Plugins(overrides),
        Sub::Doctor => Command::Doctor {
            data_dir: data_dir()?,
            overrides,
        },
        Sub::Upgrade => Command::Upgrade {
            data_dir: data_dir()?,
            overrides,
        },
        Sub::Dump => Command::Dump {
            data_dir: data_dir()?,
            output: required("--output FILE", output)?,
            overrides,
        },
        Sub::Restore => Command::Restore {
            data_dir: data_dir()?,
            input: required("--input FILE", input)?,
            overrides,
        },
    })
}

/// Bootstrap credentials are checked at parse time so a typo fails before any
/// data directory is touched. The password is never echoed.
fn check_bootstrap(overrides: &Overrides) -> Result<(), CliError> {
    let user = overrides.get(keys::BOOTSTRAP_USER);
    let password = overrides.get(keys::BOOTSTRAP_PASSWORD);
    match (user, password) {
        (Some(_), None) => Err(err(
            "--bootstrap-user requires --bootstrap-password (both or neither)",
        )),
        (None, Some(_)) => Err(err(
            "--bootstrap-password requires --bootstrap-user (both or neither)",
        )),
        (Some(_), Some(pw)) => check_password_policy(pw).map_err(|_| {
            err(
                "--bootstrap-password does not meet the password policy: at least 12 \
                 characters with a lowercase letter, an uppercase letter, a digit and a symbol",
            )
        }),
        (None, None) => Ok(()),
    }
}

/// Full help text: usage, subcommands, every flag and every environment key.
pub fn usage() -> String {
    let mut out = String::from(
        "aiondb: SQL, graph and vector database server\n\
         \n\
         USAGE:\n\
         \x20   aiondb [serve] [OPTIONS]          run the server (default)\n\
         \x20   aiondb plugins [OPTIONS]          list available plugins\n\
         \x20   aiondb doctor --data-dir PATH     inspect a data directory (read-only)\n\
         \x20   aiondb upgrade --data-dir PATH    upgrade a data directory's storage format\n\
         \x20   aiondb dump --data-dir PATH --output FILE\n\
         \x20                                     write a logical dump (SQL) to a new file\n\
         \x20   aiondb restore --data-dir PATH --input FILE\n\
         \x20                                     restore a logical dump into an empty database\n\
         \n\
         OPTIONS (--flag VALUE or --flag=VALUE):\n\
         \x20   -h, --help                        print this help\n\
         \x20   -V, --version                     print the version\n",
    );
    for f in FLAGS {
        let left = if f.value_name.is_empty() {
            f.name.to_string()
        } else {
            format!("{} {}", f.name, f.value_name)
        };
        out.push_str(&format!("    {left:<34}{}\n", f.help));
    }
    out.push_str(
        "\nCommand-line options override AIONDB_* environment variables, which \
         override defaults.\n\nENVIRONMENT:\n",
    );
    out.push_str(&aiondb_kernel::config::settings_help());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PW: &str = "Correct-Horse-9";

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn ok(list: &[&str]) -> Command {
        match parse(&args(list)) {
            Ok(cmd) => cmd,
            Err(e) => panic!("{list:?}: {e}"),
        }
    }

    fn fail(list: &[&str]) -> String {
        match parse(&args(list)) {
            Ok(cmd) => panic!("{list:?} parsed as {cmd:?}"),
            Err(e) => e.0,
        }
    }

    fn serve(list: &[&str]) -> Overrides {
        match ok(list) {
            Command::Serve(o) => o,
            other => panic!("{list:?}: expected serve, got {other:?}"),
        }
    }

    #[test]
    fn no_args_is_serve_with_no_overrides() {
        assert_eq!(ok(&[]), Command::Serve(Overrides::default()));
        assert_eq!(ok(&["serve"]), Command::Serve(Overrides::default()));
    }

    #[test]
    fn help_and_version() {
        assert_eq!(ok(&["--help"]), Command::Help);
        assert_eq!(ok(&["-h"]), Command::Help);
        assert_eq!(ok(&["doctor", "--help"]), Command::Help);
        assert_eq!(ok(&["--version"]), Command::Version);
        assert_eq!(ok(&["-V"]), Command::Version);
    }

    #[test]
    fn every_value_flag_in_both_forms() {
        let cases = [
            ("--listen-addr", keys::LISTEN_ADDR, "0.0.0.0:6543"),
            ("--data-dir", keys::DATA_DIR, "/tmp/db"),
            ("--storage-backend", keys::STORAGE_BACKEND, "lsm"),
            ("--observability-bind", keys::OBSERVABILITY_BIND, "::1"),
            ("--observability-port", keys::OBSERVABILITY_PORT, "9999"),
            ("--plugin-dir", keys::PLUGIN_DIR, "/opt/plugins"),
            ("--plugins", keys::PLUGINS, "pgwire,storage_lsm"),
        ];
        for (flag, key, value) in cases {
            let spaced = serve(&[flag, value]);
            assert_eq!(spaced.0, vec![(key, value.to_string())], "{flag}");
            let joined = format!("{flag}={value}");
            assert_eq!(serve(&[&joined]), spaced, "{flag}");
        }
    }

    #[test]
    fn switches() {
        assert_eq!(
            serve(&["--ephemeral"]).0,
            vec![(keys::EPHEMERAL, "true".to_string())]
        );
        assert_eq!(
            serve(&["--allow-unencrypted-storage"]).0,
            vec![(keys::ALLOW_UNENCRYPTED_STORAGE, "true".to_string())]
        );
        assert_eq!(
            serve(&["--no-observability"]).0,
            vec![(keys::OBSERVABILITY_ENABLED, "false".to_string())]
        );
        assert!(fail(&["--ephemeral=false"]).contains("does not take a value"));
    }

    #[test]
    fn equals_form_keeps_everything_after_the_first_equals() {
        let o = serve(&["--data-dir=/tmp/a=b"]);
        assert_eq!(o.get(keys::DATA_DIR), Some("/tmp/a=b"));
        // An empty value is passed through; Config::load rejects it.
        let o = serve(&["--data-dir="]);
        assert_eq!(o.get(keys::DATA_DIR), Some(""));
    }

    #[test]
    fn bootstrap_flags_and_password_policy() {
        let o = serve(&["--bootstrap-user", "admin", "--bootstrap-password", PW]);
        assert_eq!(o.get(keys::BOOTSTRAP_USER), Some("admin"));
        assert_eq!(o.get(keys::BOOTSTRAP_PASSWORD), Some(PW));

        let msg = fail(&["--bootstrap-user", "admin"]);
        assert!(msg.contains("requires --bootstrap-password"), "{msg}");
        let msg = fail(&[&format!("--bootstrap-password={PW}")]);
        assert!(msg.contains("requires --bootstrap-user"), "{msg}");

        for weak in ["short-A1", "nouppercase-123", "NoSymbolAtAll123"] {
            let msg = fail(&["--bootstrap-user=admin", "--bootstrap-password", weak]);
            assert!(msg.contains("at least 12 characters"), "{msg}");
            assert!(msg.contains("symbol"), "{msg}");
            assert!(!msg.contains(weak), "password echoed: {msg}");
        }
    }

    #[test]
    fn unknown_flag_and_subcommand_are_named() {
        assert_eq!(fail(&["--frobnicate"]), "unknown option '--frobnicate'");
        assert_eq!(fail(&["--frob=1"]), "unknown option '--frob'");
        assert_eq!(fail(&["-x"]), "unknown option '-x'");
        assert_eq!(fail(&["frobnicate"]), "unknown subcommand 'frobnicate'");
        assert_eq!(
            fail(&["doctor", "--data-dir", "/d", "extra"]),
            "unexpected argument 'extra'"
        );
    }

    #[test]
    fn missing_value_is_an_error() {
        let msg = fail(&["--data-dir"]);
        assert!(msg.contains("'--data-dir' requires a value"), "{msg}");
        let msg = fail(&["--listen-addr", "--ephemeral"]);
        assert!(msg.contains("'--listen-addr' requires a value"), "{msg}");
    }

    #[test]
    fn repeated_flag_is_an_error() {
        let msg = fail(&["--data-dir", "/a", "--data-dir=/b"]);
        assert!(msg.contains("more than once"), "{msg}");
    }

    #[test]
    fn maintenance_subcommands_require_data_dir() {
        for sub in ["doctor", "upgrade", "dump", "restore"] {
            let msg = fail(&[sub]);
            assert!(msg.contains("requires --data-dir"), "{sub}: {msg}");
        }
        assert_eq!(
            ok(&["doctor", "--data-dir", "/d"]),
            Command::Doctor {
                data_dir: PathBuf::from("/d"),
                overrides: Overrides(vec![(keys::DATA_DIR, "/d".to_string())]),
            }
        );
        // Flags may precede the subcommand.
        assert!(matches!(
            ok(&["--data-dir=/d", "upgrade"]),
            Command::Upgrade { data_dir, .. } if data_dir == std::path::Path::new("/d")
        ));
    }

    #[test]
    fn dump_and_restore_require_their_file() {
        assert!(fail(&["dump", "--data-dir", "/d"]).contains("'dump' requires --output FILE"));
        assert!(fail(&["restore", "--data-dir", "/d"]).contains("'restore' requires --input"));
        assert_eq!(
            ok(&["dump", "--data-dir", "/d", "--output", "out.sql"]),
            Command::Dump {
                data_dir: PathBuf::from("/d"),
                output: PathBuf::from("out.sql"),
                overrides: Overrides(vec![(keys::DATA_DIR, "/d".to_string())]),
            }
        );
        assert!(matches!(
            ok(&["restore", "--input=in.sql", "--data-dir=/d", "--storage-backend=lsm"]),
            Command::Restore { input, overrides, .. }
                if input == std::path::Path::new("in.sql")
                    && overrides.get(keys::STORAGE_BACKEND) == Some("lsm")
        ));
    }

    #[test]
    fn flags_are_scoped_to_their_subcommands() {
        let msg = fail(&["doctor", "--data-dir", "/d", "--listen-addr", "x:1"]);
        assert_eq!(msg, "option '--listen-addr' is not accepted by 'doctor'");
        assert!(fail(&["--output", "f"]).contains("not accepted by 'serve'"));
        assert!(fail(&["plugins", "--data-dir", "/d"]).contains("not accepted by 'plugins'"));
        assert_eq!(
            ok(&["plugins", "--plugin-dir", "/p", "--plugins=none"]),
            Command::Plugins(Overrides(vec![
                (keys::PLUGIN_DIR, "/p".to_string()),
                (keys::PLUGINS, "none".to_string()),
            ]))
        );
    }

    #[test]
    fn overrides_feed_config_load() {
        let o = serve(&[
            "--ephemeral",
            "--listen-addr=127.0.0.1:0",
            "--no-observability",
        ]);
        let (config, _) = aiondb_kernel::config::Config::load(&o.0, Vec::<(String, String)>::new())
            .map_err(|e| e.to_string())
            .unwrap();
        assert_eq!(config.text(keys::STORAGE_BACKEND), Some("in_memory"));
        assert!(!config.bool(keys::OBSERVABILITY_ENABLED));
    }

    #[test]
    fn usage_lists_every_flag_and_subcommand() {
        let text = usage();
        for f in FLAGS {
            assert!(text.contains(f.name), "{}", f.name);
        }
        for word in ["serve", "plugins", "doctor", "upgrade", "dump", "restore"] {
            assert!(text.contains(word), "{word}");
        }
        assert!(text.contains("--help") && text.contains("--version"));
        assert!(text.contains(keys::PGWIRE_MAX_CONNECTIONS));
    }
}
