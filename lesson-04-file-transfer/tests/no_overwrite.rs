//! Without `--overwrite`, a file is never replaced, not even one that
//! appears while an upload is in flight: the server checks before the body
//! (a courtesy) and again in the same step as the final rename (the
//! protection). Check-then-act alone is a race.

mod common;

use std::fs;

use common::escaped;
use common::lesson::{
    Scratch, finish_upload, line_starting_with, names, snapshot, start_in, start_upload,
};

#[test]
fn a_file_created_during_the_upload_is_not_replaced() {
    let scratch = Scratch::new();
    let (mut server, addr) = start_in(&scratch.dir, &[]);
    // The name is free when the header arrives: READY.
    let mut stream = start_upload(addr, "race.txt", 5);
    // Another program creates the file while the body is on its way.
    fs::write(scratch.dir.join("race.txt"), b"someone else's\n").expect("writing race.txt");
    let reply = finish_upload(&mut stream, b"mine!");
    assert_eq!(
        reply, "ERR exists race.txt was created by someone else during the upload\n",
        "race.txt appeared in --dir after READY (hint: a plain rename replaces it; the check \
         before the body cannot see a file created later)"
    );
    line_starting_with(&mut server, "refused race.txt: exists ");
    let saved = fs::read(scratch.dir.join("race.txt")).expect("reading race.txt");
    assert!(
        saved == b"someone else's\n",
        "the other program's race.txt must be untouched, it holds {}",
        escaped(&saved)
    );
    assert_eq!(
        names(&snapshot(&scratch.dir)),
        ["race.txt"],
        "no temporary file may remain"
    );
}

#[test]
fn two_servers_on_one_folder_cannot_both_save_the_same_name() {
    let scratch = Scratch::new();
    let (mut first, first_addr) = start_in(&scratch.dir, &[]);
    let (mut second, second_addr) = start_in(&scratch.dir, &[]);
    // Both check the name while it is free, and both say READY.
    let mut to_first = start_upload(first_addr, "same.txt", 5);
    let mut to_second = start_upload(second_addr, "same.txt", 5);
    assert_eq!(finish_upload(&mut to_first, b"first"), "OK 5\n");
    line_starting_with(&mut first, "received same.txt: 5 bytes in ");
    assert_eq!(
        finish_upload(&mut to_second, b"later"),
        "ERR exists same.txt was created by someone else during the upload\n",
        "the second server must not replace the file the first one saved"
    );
    line_starting_with(&mut second, "refused same.txt: exists ");
    assert_eq!(
        fs::read(scratch.dir.join("same.txt")).expect("reading same.txt"),
        b"first",
        "the first upload's file must be the one kept"
    );
    assert_eq!(names(&snapshot(&scratch.dir)), ["same.txt"]);
}

#[test]
fn with_overwrite_a_file_created_during_the_upload_is_replaced() {
    let scratch = Scratch::new();
    let (mut server, addr) = start_in(&scratch.dir, &["--overwrite"]);
    let mut stream = start_upload(addr, "race.txt", 5);
    fs::write(scratch.dir.join("race.txt"), b"older").expect("writing race.txt");
    assert_eq!(finish_upload(&mut stream, b"newer"), "OK 5\n");
    line_starting_with(&mut server, "received race.txt: 5 bytes in ");
    assert_eq!(
        fs::read(scratch.dir.join("race.txt")).expect("reading race.txt"),
        b"newer"
    );
}

#[test]
fn a_rename_that_fails_for_another_reason_is_io_not_exists() {
    // With --overwrite the rename may replace a file, but not a folder:
    // that failure is the server's `io`, not the name's `exists`.
    let scratch = Scratch::new();
    let (mut server, addr) = start_in(&scratch.dir, &["--overwrite"]);
    let mut stream = start_upload(addr, "folder", 5);
    fs::create_dir(scratch.dir.join("folder")).expect("making a folder of that name");
    fs::write(scratch.dir.join("folder").join("inside.txt"), b"x").expect("filling it");
    let reply = finish_upload(&mut stream, b"mine!");
    assert!(
        reply.starts_with("ERR io renaming the temporary file: "),
        "a folder named like the upload appeared during it; the rename fails, and that is \
         `io`, got {reply:?}"
    );
    line_starting_with(&mut server, "refused folder: io ");
    assert_eq!(
        names(&snapshot(&scratch.dir)),
        ["folder", "folder/inside.txt"]
    );
}
