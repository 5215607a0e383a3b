//! Standard output for the reports: written in blocks of [`BLOCK`] bytes straight to the file
//! descriptor, not through the standard library's line-buffered `Stdout` (which looks for the
//! last newline in every write and makes a system call per line). Whoever reads it as it is
//! written (a terminal, a pipe) is told apart with [`Stdout::reader_follows`], for the JSON
//! Lines stream to flush each line for it.

use std::io::{self, IsTerminal, Write};

/// Bytes held before a write to the file descriptor.
pub const BLOCK: usize = 64 * 1024;

pub struct Stdout {
    out: io::BufWriter<Box<dyn Write>>,
    follows: bool,
}

impl Stdout {
    pub fn new() -> Stdout {
        // Whatever went through the standard library's handle goes first.
        let _ = io::stdout().flush();
        let (raw, plain) = raw();
        Stdout {
            out: io::BufWriter::with_capacity(BLOCK, raw),
            follows: io::stdout().is_terminal() || !plain,
        }
    }

    /// A terminal, a pipe or a socket, or anything not known to be a regular file or a device
    /// like `/dev/null`: its reader may be waiting for each record as it comes.
    pub fn reader_follows(&self) -> bool {
        self.follows
    }
}

impl Default for Stdout {
    fn default() -> Stdout {
        Stdout::new()
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.out.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// File descriptor 1 as a file of its own (a duplicate: the standard library's handle stays
/// open), or the standard library's handle where there is none; and whether it is a regular
/// file or a character device that is not a terminal (`/dev/null`), which no one reads line by
/// line as it is written.
#[cfg(unix)]
fn raw() -> (Box<dyn Write>, bool) {
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileTypeExt;
    match io::stdout().as_fd().try_clone_to_owned() {
        Ok(fd) => {
            let file = std::fs::File::from(fd);
            let plain = file
                .metadata()
                .is_ok_and(|m| m.file_type().is_file() || m.file_type().is_char_device());
            (Box::new(file), plain)
        }
        Err(_) => (Box::new(io::stdout()), false),
    }
}

#[cfg(not(unix))]
fn raw() -> (Box<dyn Write>, bool) {
    (Box::new(io::stdout()), false)
}
