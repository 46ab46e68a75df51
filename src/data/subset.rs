//! [`Subset`]: which rows of a data set to keep, the one type every loader reads.

use serde::{Deserialize, Serialize};

/// Which rows to keep; written as a string: `all`, `hundred` (rows whose
/// `hundred_subset` is true; parquet only), `first:N`, `random:N` or `random:N:SEED`
/// (N rows uniformly without replacement, by SEED, default 0, independent of the
/// shuffle seed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Subset {
    /// Every row (`all`, the default).
    #[default]
    All,
    /// Rows whose `hundred_subset` column is true (`hundred`; GenCAD-Code parquet only).
    Hundred,
    /// The first N rows, in file order (`first:N`).
    First(usize),
    /// N rows drawn uniformly without replacement (`random:N[:SEED]`).
    Random {
        /// Rows to draw (all rows when the set has fewer).
        n: usize,
        /// The draw's seed (default 0), independent of the shuffle seed.
        seed: u64,
    },
}

impl std::str::FromStr for Subset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("subset `{s}`: expected all, hundred, first:N, random:N or random:N:SEED");
        let parts: Vec<&str> = s.trim().split(':').collect();
        let num = |t: &str| t.trim().parse::<u64>().map_err(|_| bad());
        Ok(match parts.as_slice() {
            ["all"] => Subset::All,
            ["hundred"] => Subset::Hundred,
            ["first", n] => Subset::First(num(n)? as usize),
            ["random", n] => Subset::Random { n: num(n)? as usize, seed: 0 },
            ["random", n, seed] => Subset::Random { n: num(n)? as usize, seed: num(seed)? },
            _ => return Err(bad()),
        })
    }
}

impl std::fmt::Display for Subset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subset::All => write!(f, "all"),
            Subset::Hundred => write!(f, "hundred"),
            Subset::First(n) => write!(f, "first:{n}"),
            Subset::Random { n, seed } => write!(f, "random:{n}:{seed}"),
        }
    }
}

impl TryFrom<String> for Subset {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Subset> for String {
    fn from(s: Subset) -> String {
        s.to_string()
    }
}
