//! Configuration: defaults, then a TOML file (`--config`), then `KASIR_…` environment
//! variables, then command-line flags. Every setting is named the same in the file and, upper
//! case with a `KASIR_` prefix, in the environment.

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `mysql://user:pass@host:3306/db` or `sqlite://path/to/file.db`.
    pub database_url: String,
    pub listen: SocketAddr,
    pub max_connections: u32,
    /// Access token lifetime, seconds (seed: 3600).
    pub access_ttl_secs: u64,
    /// Refresh token family lifetime, seconds.
    pub refresh_ttl_secs: u64,
    /// How long after it expired an access token may still be exchanged for a new one at
    /// `POST /api/auth/refresh` (the seed's way), seconds.
    pub refresh_grace_secs: u64,
    /// Requests per minute per token and per client address (seed: 60).
    pub rate_limit_per_minute: u32,
    /// Login attempts per minute per client address.
    pub login_rate_per_minute: u32,
    /// Largest request body, bytes.
    pub body_limit_bytes: usize,
    /// Error bodies carry internal details (never in production).
    pub debug: bool,
    /// argon2id memory, KiB (OWASP: 19456).
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    /// How long a barcode lookup may be answered from memory, ms (0: never).
    pub barcode_cache_ms: u64,
    /// How often the webhook worker looks for due deliveries, ms.
    pub webhook_poll_ms: u64,
    /// How often this instance reads the change counters other instances bump, ms.
    pub change_poll_ms: u64,
    /// Hosts webhook deliveries may go to, comma-separated (`hooks.example.id,127.0.0.1`);
    /// empty: any. A delivery to another host is not attempted: it fails at once, naming
    /// this setting.
    pub webhook_hosts: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: "sqlite://kasir-hq.db".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_connections: 8,
            access_ttl_secs: 3600,
            refresh_ttl_secs: 30 * 24 * 3600,
            refresh_grace_secs: 300,
            rate_limit_per_minute: 60,
            login_rate_per_minute: 10,
            body_limit_bytes: 8 * 1024 * 1024,
            debug: false,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            barcode_cache_ms: 60_000,
            webhook_poll_ms: 500,
            change_poll_ms: 250,
            webhook_hosts: String::new(),
        }
    }
}

impl Config {
    /// Defaults, overlaid by `file` (when given) and by the environment.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, String> {
        let mut c = match file {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| format!("config file {}: {e}", p.display()))?;
                toml::from_str(&text).map_err(|e| format!("config file {}: {e}", p.display()))?
            }
            None => Config::default(),
        };
        fn set<T: std::str::FromStr>(
            slot: &mut T,
            name: &str,
            env: &impl Fn(&str) -> Option<String>,
        ) -> Result<(), String>
        where
            T::Err: std::fmt::Display,
        {
            if let Some(v) = env(name) {
                *slot = v.trim().parse().map_err(|e| format!("{name}={v:?}: {e}"))?;
            }
            Ok(())
        }
        set(&mut c.database_url, "KASIR_DATABASE_URL", &env)?;
        set(&mut c.listen, "KASIR_LISTEN", &env)?;
        set(&mut c.max_connections, "KASIR_MAX_CONNECTIONS", &env)?;
        set(&mut c.access_ttl_secs, "KASIR_ACCESS_TTL_SECS", &env)?;
        set(&mut c.refresh_ttl_secs, "KASIR_REFRESH_TTL_SECS", &env)?;
        set(&mut c.refresh_grace_secs, "KASIR_REFRESH_GRACE_SECS", &env)?;
        set(
            &mut c.rate_limit_per_minute,
            "KASIR_RATE_LIMIT_PER_MINUTE",
            &env,
        )?;
        set(
            &mut c.login_rate_per_minute,
            "KASIR_LOGIN_RATE_PER_MINUTE",
            &env,
        )?;
        set(&mut c.body_limit_bytes, "KASIR_BODY_LIMIT_BYTES", &env)?;
        set(&mut c.debug, "KASIR_DEBUG", &env)?;
        set(&mut c.argon2_memory_kib, "KASIR_ARGON2_MEMORY_KIB", &env)?;
        set(&mut c.argon2_iterations, "KASIR_ARGON2_ITERATIONS", &env)?;
        set(&mut c.barcode_cache_ms, "KASIR_BARCODE_CACHE_MS", &env)?;
        set(&mut c.webhook_poll_ms, "KASIR_WEBHOOK_POLL_MS", &env)?;
        set(&mut c.change_poll_ms, "KASIR_CHANGE_POLL_MS", &env)?;
        set(&mut c.webhook_hosts, "KASIR_WEBHOOK_HOSTS", &env)?;
        c.check()?;
        Ok(c)
    }

    pub fn check(&self) -> Result<(), String> {
        if self.rate_limit_per_minute == 0 || self.login_rate_per_minute == 0 {
            return Err("rate limits must be at least 1 per minute".into());
        }
        if self.access_ttl_secs < 60 {
            return Err("access_ttl_secs must be at least 60".into());
        }
        if self.body_limit_bytes < 1024 {
            return Err("body_limit_bytes must be at least 1024".into());
        }
        if self.webhook_poll_ms < 10 || self.change_poll_ms < 10 {
            return Err("webhook_poll_ms and change_poll_ms must be at least 10".into());
        }
        if self.max_connections == 0 {
            return Err("max_connections must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("gw.toml");
        std::fs::write(
            &f,
            "listen = \"127.0.0.1:9000\"\nrate_limit_per_minute = 120\n",
        )
        .unwrap();
        let env = |k: &str| (k == "KASIR_RATE_LIMIT_PER_MINUTE").then(|| "30".to_string());
        let c = Config::load(Some(&f), env).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.rate_limit_per_minute, 30);
        assert_eq!(c.database_url, "sqlite://kasir-hq.db");
        std::fs::write(&f, "listne = \"x\"\n").unwrap();
        assert!(
            Config::load(Some(&f), |_| None)
                .unwrap_err()
                .contains("unknown field")
        );
        let bad = |k: &str| (k == "KASIR_LISTEN").then(|| "nowhere".to_string());
        assert!(
            Config::load(None, bad)
                .unwrap_err()
                .contains("KASIR_LISTEN")
        );
    }
}
