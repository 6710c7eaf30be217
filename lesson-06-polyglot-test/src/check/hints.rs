//! The classic mistakes, in words a student can act on.
//!
//! A stage picks the hint that fits what actually crossed the wire: an echo
//! that never came is not the same mistake as one that stopped short. Each
//! names the usual call in Python (which most readers come from), and in
//! Java or Go where it differs. The tests match these texts, so a hint
//! cannot change, or go missing, unnoticed.

// Starting the program.

pub const CANNOT_START: &str = "check runs the command after `--` as it is: is the program \
    installed (python3, java, go) and on PATH, and is the path of your file right?";

pub const ALREADY_RUNNING: &str = "stop the program that holds this port first (an earlier run \
    of your server? press Ctrl-C in its terminal), or choose another port";

pub const PORT_IN_USE: &str = "your program says the port is in use: another program still \
    holds it. With a fixed --addr, stop the other one; otherwise, does your program bind the \
    port it is given, or one it chose itself?";

pub const EXITED_AT_START: &str = "read its error below. Does it take the port where the \
    command has {port} (Python: int(sys.argv[1]))?";

pub const LISTEN_ON_THE_PORT: &str = "does your program listen on the port check gives it? \
    Put {port} in the command where your program reads its port (check puts a free port \
    there); a program that always uses the same port needs --addr HOST:PORT instead";

pub const CONNECT_TO_THE_PORT: &str = "does your client connect to the port check gives it, \
    on 127.0.0.1? Put {port} in the command where your client reads the port; a client that \
    always uses the same port needs --addr HOST:PORT instead";

pub const TELL_THE_LIMIT: &str = "put {max} in the command where your server takes its \
    connection limit (check chooses a small one for this stage), or, if the limit is fixed in \
    your code, pass it with --max-connections N";

// Lines and buffers.

pub const NO_NEWLINE: &str = "a line ends with \"\\n\": add it to what you send (Python: \
    sock.sendall((text + \"\\n\").encode())). Without it the other side cannot tell that the \
    line is complete, and waits for the rest";

pub const NOT_FLUSHED: &str = "nothing arrived. If your program writes through a buffer \
    (Python's makefile(\"w\"), Java's PrintWriter or BufferedWriter, Go's bufio.Writer), call \
    flush() after each message; otherwise, is the write reached at all?";

pub const WRONG_TEXT: &str = "check compares bytes: every letter, space and punctuation mark \
    counts, and the line ends with \"\\n\" alone, not \"\\r\\n\"";

pub const SINGLE_RECV: &str = "one recv(1024) returns whatever has arrived so far (one byte, \
    half a line), not a whole message: call recv in a loop until you have the \"\\n\", or \
    until it returns b\"\" (the end of the stream)";

pub const CLOSE_AFTER_THE_GREETING: &str = "close the connection once the greeting is sent \
    (conn.close()): the client reads until the end of the stream";

pub const CLOSE_AFTER_THE_REPLY: &str = "after reading the client's line, close the connection \
    (conn.close()): the client waits for that to know its line was read";

pub const CLOSES_BEFORE_READING: &str = "the connection was closed before the bytes sent to \
    it were read: read what the protocol says comes next (a line, up to its \"\\n\"), and \
    close only after that";

// The echo server.

pub const ECHO_NOT_SENT: &str = "nothing came back. Does the server write back each piece as \
    soon as recv returns it (sendall(data))? Waiting for more first (a whole 1024 bytes, the \
    end of the stream) leaves the client waiting; so does a buffer that is never flushed \
    (makefile(\"w\"), PrintWriter, bufio.Writer)";

pub const DROPS_LAST_BYTE: &str = "the last byte is missing from the echo: does the server \
    strip the line (strip(), trim()) or write one byte fewer than it read (data[:-1], n - 1)? \
    An echo is exactly the bytes read";

pub const ECHO_DIFFERS: &str = "an echo is exactly the bytes read, in the same order: no \
    decoding, no trimming, no extra characters";

pub const DECODES_EACH_READ: &str = "the echo stopped at a multi-byte UTF-8 character: \
    decoding each recv as text (data.decode()) fails when a character is split between two \
    reads. An echo server sends the bytes back as they are, without decoding them";

pub const ECHO_STALLED: &str = "the echo stopped part-way: does the server write back every \
    piece as soon as it reads it, with sendall()? A server that reads more before it writes \
    can get stuck with a client that is still sending";

pub const SENDALL: &str = "send() may write only part of the bytes and returns how many it \
    wrote: use sendall(), which loops until every byte is written (Java's write and Go's \
    Write already do)";

pub const CLOSE_AT_END_OF_STREAM: &str = "when recv returns b\"\" (0 bytes: the client shut \
    down its write half) the client is done: leave the loop and close the connection \
    (conn.close()), or the client waits for ever";

pub const LAST_BYTES_WITHOUT_NEWLINE: &str = "the bytes after the last \"\\n\" must come back \
    too: an echo server sends back whatever it reads, not only whole lines";

pub const ACCEPT_IN_A_LOOP: &str = "a server keeps serving: put accept() in a loop, and go back \
    to it when a client leaves";

pub const SURVIVE_A_RESET: &str = "a client can vanish at any moment: catch the error for that \
    one client (ConnectionResetError, BrokenPipeError, an IOException, a Go error), close its \
    connection, and keep accepting the others";

pub const ONE_AT_A_TIME: &str = "the server serves one client at a time: while it waits on the \
    silent client, nobody else gets an answer. Give each client its own thread \
    (threading.Thread, new Thread, go handle(conn))";

pub const OWN_CONNECTION: &str = "each client's thread must read from and write to its own \
    connection, the one accept() returned for it (pass it to the thread), never a variable \
    that all threads share";

pub const ACCEPTS_EVERY_CLIENT: &str = "a burst of clients must all be accepted: a listen \
    backlog as small as listen(1), or a server that stops accepting after a few, turns \
    clients away";

pub const SAY_BUSY: &str = "count the clients being served; when one more comes over the \
    limit, send it \"ERR server busy\\n\" and close its connection at once, instead of \
    leaving it to wait";

pub const FREE_THE_PLACE: &str = "when a client leaves, its place is free: count it out as soon \
    as its connection ends, whatever way it ends (Python: in a finally: block)";

// The clients.

pub const NO_SHUTDOWN: &str = "after its last line a client shuts down its write half \
    (Python: sock.shutdown(socket.SHUT_WR), Java: socket.shutdownOutput(), Go: \
    conn.(*net.TCPConn).CloseWrite()), so the server reads the end of the stream";

pub const WAIT_FOR_THE_CLOSE: &str = "after shutting down its write half, a client reads until \
    recv returns b\"\": the server's close is how it knows its line was read. Exit only then";

pub const EXIT_AT_END_OF_STREAM: &str = "when recv returns b\"\" the server has closed the \
    connection: nothing more will come, so the client is done; exit";

pub const REPORT_FAILURE: &str = "when the server closes early or answers wrongly, the client \
    must say so (on stderr) and exit with a non-zero status (Python: sys.exit(1)), not carry \
    on as if all went well";

pub const PRINT_THE_GREETING: &str = "print the line the server sent (Python: \
    print(line.decode().rstrip(\"\\n\")))";

pub const PRINT_THE_REPLY: &str = "read the client's line, up to its \"\\n\", and print it \
    before you close the connection";

pub const SEND_EACH_LINE: &str = "send each line of the input exactly as it is, with its \
    \"\\n\" (one sendall per line), in order";

pub const PRINT_EACH_ECHO: &str = "print each echo as \"echo: \" followed by the line, and \
    nothing else on stdout";

pub const PRINT_WHOLE_ECHO: &str = "an echo of a long line arrives in several pieces: read \
    until you have the whole line (up to its \"\\n\") before you print it";

// The file transfer.

pub const ANSWER_READY: &str = "answer a good header at once with exactly \"READY\\n\" \
    (flushed, if you write through a buffer), and only then read the body";

pub const CONFIRM_WITH_OK: &str = "once every byte of the body is on disk under its name, \
    answer \"OK <size>\\n\" with the size the header announced";

pub const BINARY_BODY: &str = "the body is raw bytes: open the file in binary mode (\"wb\"), \
    write exactly what arrives, and never decode it as text";

pub const READ_THE_WHOLE_BODY: &str = "read the body in a loop until <size> bytes have \
    arrived: one recv returns only part of it";

pub const REFUSE_BAD_NAMES: &str = "a name from the network is hostile: refuse one that is \
    empty, \".\" or \"..\", or holds \"/\", \"\\\\\" or a control character, with \"ERR \
    bad-name ...\\n\", before you join it to the folder";

pub const REFUSE_BAD_HEADERS: &str = "check the header's shape before anything else: \"SEND\", \
    a space, digits only, a space, a name. Answer anything else with \"ERR bad-header ...\\n\" \
    and close";

pub const BOUND_THE_HEADER: &str = "read the header with a limit (4096 bytes): a client that \
    never sends \"\\n\" must get \"ERR bad-header ...\\n\", not make the server read for ever";

pub const REFUSE_EXISTING: &str = "a name that is already taken is refused with \"ERR exists \
    ...\\n\" (before READY), and the file that is there is left as it is";

pub const TEMP_FILE: &str = "write the body into a temporary file in the same folder and \
    rename it to its name only once all <size> bytes arrived; remove it if the body ends \
    short, and answer \"ERR short ...\\n\"";

pub const WAIT_FOR_READY: &str = "after the header, wait for the server's answer: \"READY\\n\" \
    means send the body, \"ERR ...\" means stop";

pub const SEND_THE_HEADER: &str = "the header is one line: \"SEND\", a space, the file's size in \
    bytes (os.path.getsize), a space, the file's base name (os.path.basename), \"\\n\"";

pub const SEND_THE_FILE: &str = "send the file's bytes exactly: open it in binary mode (\"rb\"), \
    sendall every piece, and after the last one shut down the write half \
    (sock.shutdown(socket.SHUT_WR))";

pub const READ_THE_ANSWER: &str = "read the server's answer to the header before sending the \
    body: after \"ERR ...\" send nothing, say why, and exit with a non-zero status";

pub const WAIT_FOR_OK: &str = "an upload has succeeded only when \"OK <size>\\n\" arrives; a \
    connection closed without it is a failure to report, with a non-zero exit status";
