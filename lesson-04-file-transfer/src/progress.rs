//! Optional on a first reading: the client's progress bar.
//!
//! Drawn on stderr with the `indicatif` crate, and only when stderr is a
//! terminal (`main.rs` decides), so scripts and tests get clean output. The
//! body loops call [`Progress::set`] after each piece; without a bar that
//! does nothing.

use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar for `size` bytes, or nothing.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar for `size` bytes if `show`, else a `Progress` that draws nothing.
    pub fn new(size: u64, show: bool) -> Progress {
        let bar = show.then(|| {
            let style = ProgressStyle::with_template(
                "{binary_bytes}/{binary_total_bytes} [{wide_bar}] {binary_bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            ProgressBar::new(size).with_style(style)
        });
        Progress { bar }
    }

    /// `sent` bytes have gone.
    pub fn set(&self, sent: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(sent);
        }
    }

    /// Removes the bar from the terminal.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_follows_the_bytes_sent_and_is_cleared_at_the_end() {
        // Off a terminal indicatif draws nothing, but the bar still counts.
        let progress = Progress::new(100, true);
        progress.set(40);
        let bar = progress.bar.clone().expect("a bar was asked for");
        assert_eq!(bar.position(), 40);
        progress.finish();
        assert!(bar.is_finished(), "finish must end the bar");
        assert!(
            Progress::new(100, false).bar.is_none(),
            "no bar unless asked"
        );
    }
}
