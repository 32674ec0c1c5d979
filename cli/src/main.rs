//! `streamops`: the suite's ops commands from a terminal or a script (docs/cli.md).

use clap::Parser;

mod args;
mod book;
mod commands;
mod error;
mod follow;
mod known;
mod lambda;
mod render;
mod run;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = args::Cli::parse();
    if let Err(e) = run::run(&cli).await {
        eprintln!("streamops: {}", describe(&e));
        std::process::exit(e.exit_code());
    }
}

fn describe(e: &error::CliError) -> String {
    match e {
        error::CliError::Function { .. } => format!("the function answered with an error: {e}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_follow;
#[cfg(test)]
mod tests_pipelines;
