//! `kiln list`.

use kiln_libcontainer::{list, Error, StateRoot};

/// Options of `list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Output format.
    #[arg(short = 'f', long, value_parser = ["table", "json"], default_value = "table")]
    pub format: String,
    /// Print only the ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// Prints the containers like `runc list`.
pub fn run(root: &StateRoot, root_given: bool, a: &ListArgs) -> Result<(), Error> {
    // As runc: a missing default root means no containers, a missing --root is an error.
    if root_given && !root.path().is_dir() {
        return Err(Error::Io {
            op: "stat",
            path: root.path().to_path_buf(),
            source: std::io::Error::from_raw_os_error(libc::ENOENT),
        });
    }
    let states: Vec<_> = list(root)?.iter().map(|c| c.state()).collect();
    if a.quiet {
        for s in &states {
            println!("{}", s.id);
        }
        return Ok(());
    }
    if a.format == "json" {
        if states.is_empty() {
            println!("null");
        } else {
            println!("{}", serde_json::to_string(&states).unwrap_or_default());
        }
        return Ok(());
    }
    let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
        .map(String::from)
        .to_vec()];
    for s in &states {
        rows.push(vec![
            s.id.clone(),
            s.pid.to_string(),
            s.status.to_string(),
            s.bundle.display().to_string(),
            s.created.clone(),
            s.owner.clone(),
        ]);
    }
    print!("{}", table(&rows));
    Ok(())
}

/// Columns padded like Go's tabwriter(minwidth 12, padding 3), as runc prints.
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len() + 3)
                .max()
                .unwrap_or(0)
                .max(12)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == cols {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}", w = widths[c]));
            }
        }
        out.push('\n');
    }
    out
}
