"""The store's schema, as SQL text, one numbered migration per entry.

``PRAGMA user_version`` holds the number of the last migration applied; each runs in its own
transaction. Append new migrations; never edit one that has shipped. All timestamps are UTC ISO 8601.
"""

MIGRATIONS: tuple[str, ...] = (
    # 1: documents, claims, occurrences, the near-duplicate index, digests
    """
    CREATE TABLE documents (
        id            INTEGER PRIMARY KEY,
        locator       TEXT NOT NULL UNIQUE,      -- absolute file path or URL
        source        TEXT NOT NULL,             -- name of the source that found it
        content_hash  TEXT NOT NULL,             -- SHA-256 of the bytes last ingested
        size          INTEGER,                   -- file size and mtime at last look (folder sources)
        mtime_ns      INTEGER,
        title         TEXT,
        site          TEXT,
        url           TEXT,                      -- canonical URL from the page, if any
        published     TEXT,                      -- ISO date, if known
        encoding      TEXT,
        first_seen    TEXT NOT NULL,
        last_changed  TEXT NOT NULL
    );

    CREATE TABLE digests (
        id            INTEGER PRIMARY KEY,
        created_at    TEXT NOT NULL,
        delivered_at  TEXT NOT NULL,
        subject       TEXT NOT NULL,
        message_id    TEXT NOT NULL,
        sender        TEXT NOT NULL,
        recipients    TEXT NOT NULL,             -- JSON list
        destination   TEXT NOT NULL,             -- outbox file or smtp://host:port
        claim_count   INTEGER NOT NULL
    );

    CREATE TABLE claims (
        id            INTEGER PRIMARY KEY,
        fingerprint   INTEGER NOT NULL UNIQUE,   -- 64-bit hash of the matching key
        normalized    TEXT NOT NULL,
        text          TEXT NOT NULL,             -- original wording as first seen
        speaker       TEXT,
        document_id   INTEGER NOT NULL REFERENCES documents(id),
        position      INTEGER NOT NULL,          -- position in its first document
        first_seen    TEXT NOT NULL,
        digest_id     INTEGER REFERENCES digests(id)   -- NULL until reported
    );
    CREATE INDEX claims_unreported ON claims(document_id, position) WHERE digest_id IS NULL;

    -- which document carries which claim, in its own wording; rows are appended in the order seen
    -- (a rowid table: random inserts into a table keyed by claim would move its wide rows around)
    CREATE TABLE occurrences (
        id            INTEGER PRIMARY KEY,
        claim_id      INTEGER NOT NULL REFERENCES claims(id),
        document_id   INTEGER NOT NULL REFERENCES documents(id),
        text          TEXT NOT NULL,
        position      INTEGER NOT NULL,
        match         TEXT NOT NULL CHECK (match IN ('new', 'exact', 'near')),
        score         REAL NOT NULL,
        first_seen    TEXT NOT NULL,
        UNIQUE (document_id, claim_id)
    );
    CREATE INDEX occurrences_claim ON occurrences(claim_id);

    -- settings the stored data depends on, e.g. the LSH parameters the buckets were computed with
    CREATE TABLE meta (
        key           TEXT PRIMARY KEY,
        value         TEXT NOT NULL
    );

    -- b-bit MinHash signature of each claim, apart from the wide claims rows so a lookup's
    -- candidates are screened by reading a few small rows
    CREATE TABLE sketches (
        claim_id      INTEGER PRIMARY KEY REFERENCES claims(id),
        signature     BLOB NOT NULL
    );

    -- MinHash LSH buckets: one row per (band hash, claim); a lookup reads a handful of index entries
    CREATE TABLE lsh_buckets (
        bucket        INTEGER NOT NULL,
        claim_id      INTEGER NOT NULL,
        PRIMARY KEY (bucket, claim_id)
    ) WITHOUT ROWID;
    """,
    # 2: web sources: HTTP validators per URL, feed entries, robots.txt files, the health of each source
    """
    -- what the last fetch of a URL said, to make the next request conditional
    CREATE TABLE http_cache (
        url           TEXT PRIMARY KEY,          -- normalized URL
        etag          TEXT,
        last_modified TEXT,
        content_hash  TEXT,                      -- SHA-256 of the body last processed
        checked_at    TEXT NOT NULL
    );

    -- every article a feed has linked to; 'pending' until it is ingested, found off-topic or given up
    CREATE TABLE feed_entries (
        url           TEXT PRIMARY KEY,          -- normalized article URL: one row however many feeds carry it
        feed          TEXT NOT NULL,             -- name of the first source that listed it
        title         TEXT,
        published     TEXT,
        state         TEXT NOT NULL CHECK (state IN ('pending', 'ingested', 'off-topic', 'failed')),
        attempts      INTEGER NOT NULL DEFAULT 0,
        last_error    TEXT,
        first_seen    TEXT NOT NULL,
        settled_at    TEXT
    );
    CREATE INDEX feed_entries_pending ON feed_entries(feed) WHERE state = 'pending';

    -- robots.txt per origin, kept a day
    CREATE TABLE robots (
        origin        TEXT PRIMARY KEY,
        status        INTEGER NOT NULL,
        body          TEXT NOT NULL,
        fetched_at    TEXT NOT NULL
    );

    -- per source: when it was last polled, last worked, last failed and how often in a row
    CREATE TABLE source_health (
        source        TEXT PRIMARY KEY,
        last_attempt  TEXT NOT NULL,
        last_success  TEXT,
        last_error    TEXT,
        last_error_at TEXT,
        failures      INTEGER NOT NULL DEFAULT 0   -- consecutive failed polls
    );
    """,
    # 3: dependable delivery: a digest is recorded, with its message, before it is sent
    """
    CREATE TABLE deliveries (
        id              INTEGER PRIMARY KEY,
        message_id      TEXT NOT NULL UNIQUE,
        subject         TEXT NOT NULL,
        message         BLOB NOT NULL,           -- the message as built: every attempt sends these bytes
        sender          TEXT NOT NULL,
        recipients      TEXT NOT NULL,           -- JSON list
        claim_count     INTEGER NOT NULL,
        created_at      TEXT NOT NULL,
        state           TEXT NOT NULL CHECK (state IN ('pending', 'sent')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error      TEXT,
        digest_id       INTEGER REFERENCES digests(id)   -- the record of its delivery, once accepted
    );
    CREATE INDEX deliveries_pending ON deliveries(next_attempt_at) WHERE state = 'pending';

    -- the delivery a claim went out in, or waits to go out in; NULL while in no digest
    ALTER TABLE claims ADD COLUMN delivery_id INTEGER REFERENCES deliveries(id);
    DROP INDEX claims_unreported;
    CREATE INDEX claims_unreported ON claims(document_id, position) WHERE digest_id IS NULL AND delivery_id IS NULL;
    """,
    # 4: conflicts: a new claim that repeats a known one in everything but a figure
    """
    CREATE TABLE conflicts (
        claim_id        INTEGER NOT NULL REFERENCES claims(id),   -- the new claim
        known_claim_id  INTEGER NOT NULL REFERENCES claims(id),   -- the claim it contradicts
        PRIMARY KEY (claim_id, known_claim_id)
    ) WITHOUT ROWID;
    """,
    # 5: a digest the server refused for good, or the user dropped, no longer holds its claims: they go into the
    # next digest. The table is rebuilt for its new states (SQLite cannot change a CHECK in place).
    """
    CREATE TABLE deliveries_new (
        id              INTEGER PRIMARY KEY,
        message_id      TEXT NOT NULL UNIQUE,
        subject         TEXT NOT NULL,
        message         BLOB NOT NULL,           -- the message as built: every attempt sends these bytes
        sender          TEXT NOT NULL,
        recipients      TEXT NOT NULL,           -- JSON list
        claim_count     INTEGER NOT NULL,
        created_at      TEXT NOT NULL,
        state           TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'refused', 'dropped')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error      TEXT,
        digest_id       INTEGER REFERENCES digests(id),  -- the record of its delivery, once accepted
        claims          TEXT,                    -- JSON list of its claim ids, kept when it gives them up
        closed_at       TEXT                     -- when it was refused or dropped
    );
    INSERT INTO deliveries_new (id, message_id, subject, message, sender, recipients, claim_count, created_at,
        state, attempts, next_attempt_at, last_error, digest_id)
        SELECT id, message_id, subject, message, sender, recipients, claim_count, created_at,
        state, attempts, next_attempt_at, last_error, digest_id FROM deliveries;
    DROP TABLE deliveries;
    ALTER TABLE deliveries_new RENAME TO deliveries;
    CREATE INDEX deliveries_pending ON deliveries(next_attempt_at) WHERE state = 'pending';
    """,
    # 6: files that could not be used, by version (size and mtime): one warning each, not one every run
    """
    CREATE TABLE failed_files (
        locator       TEXT PRIMARY KEY,          -- absolute file path
        size          INTEGER NOT NULL,
        mtime_ns      INTEGER NOT NULL,
        error         TEXT NOT NULL,
        failed_at     TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
    # 7: the near-duplicate index becomes an inverted index of character shingles in the canonical form: each
    # claim is listed under its rarest shingles, and a lookup reads the shortest lists first (Store.candidates);
    # MinHash signatures and LSH buckets go. The index is rebuilt from the claims on first use
    # (Store.ensure_index: meta 'index' differs).
    """
    DROP TABLE lsh_buckets;
    DROP TABLE sketches;
    DELETE FROM meta WHERE key = 'lsh';
    -- each claim's text in the canonical form (monitor.canon), which near-duplicates are compared in
    CREATE TABLE canonical (
        claim_id      INTEGER PRIMARY KEY REFERENCES claims(id),
        text          TEXT NOT NULL
    );
    -- one row per (shingle code, claim) for the claim's rarest shingles: the posting lists
    CREATE TABLE shingles (
        shingle       INTEGER NOT NULL,
        claim_id      INTEGER NOT NULL,
        PRIMARY KEY (shingle, claim_id)
    ) WITHOUT ROWID;
    -- per shingle: how many claims have it, and how many are listed under it (its posting list's length)
    CREATE TABLE shingle_counts (
        shingle       INTEGER PRIMARY KEY,
        claims        INTEGER NOT NULL,
        listed        INTEGER NOT NULL
    );
    """,
    # 8: a shingle's counts and the head of its posting list share one row: a lookup reads everything it needs
    # of a shingle in one seek, and a claim adds one list entry to a row, not a row of its own. Only a list's
    # first 256 entries (store.LIST_READ) were ever read; those are kept, the rest were dead rows.
    """
    CREATE TABLE postings (
        shingle       INTEGER PRIMARY KEY,
        claims        INTEGER NOT NULL,          -- claims having the shingle
        listed        INTEGER NOT NULL,          -- claims listed under it (its posting list's length)
        head          TEXT NOT NULL              -- the ids of the first 256 of them, oldest first, comma-separated
    );
    INSERT INTO postings (shingle, claims, listed, head)
        SELECT c.shingle, c.claims, c.listed, coalesce((SELECT group_concat(claim_id) FROM (
            SELECT s.claim_id FROM shingles AS s WHERE s.shingle = c.shingle ORDER BY s.claim_id LIMIT 256)), '')
        FROM shingle_counts AS c;
    DROP TABLE shingles;
    DROP TABLE shingle_counts;
    """,
    # 9: a delivered digest's message may go. The delivery guarantee (recorded before it is sent; a digest
    # resent after a crash carries its first Message-ID) needs the message only until the server accepts it;
    # the digest row, its Message-ID, recipients, times and the claims it reported stay. [digest]
    # keep_sent_messages says how long a delivered message is kept (Store.delivery_sent drops it). The table is
    # rebuilt, the message column nullable (SQLite cannot drop a NOT NULL in place); a message not delivered
    # never goes.
    """
    CREATE TABLE deliveries_new (
        id              INTEGER PRIMARY KEY,
        message_id      TEXT NOT NULL UNIQUE,
        subject         TEXT NOT NULL,
        message         BLOB,                    -- the message as built: every attempt sends these bytes; NULL
                                                 -- once delivered and kept as long as keep_sent_messages says
        sender          TEXT NOT NULL,
        recipients      TEXT NOT NULL,           -- JSON list
        claim_count     INTEGER NOT NULL,
        created_at      TEXT NOT NULL,
        state           TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'refused', 'dropped')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error      TEXT,
        digest_id       INTEGER REFERENCES digests(id),  -- the record of its delivery, once accepted
        claims          TEXT,                    -- JSON list of its claim ids, kept when it gives them up
        closed_at       TEXT,                    -- when it was refused or dropped
        CHECK (message IS NOT NULL OR state = 'sent')
    );
    INSERT INTO deliveries_new (id, message_id, subject, message, sender, recipients, claim_count, created_at,
        state, attempts, next_attempt_at, last_error, digest_id, claims, closed_at)
        SELECT id, message_id, subject, message, sender, recipients, claim_count, created_at,
        state, attempts, next_attempt_at, last_error, digest_id, claims, closed_at FROM deliveries;
    DROP TABLE deliveries;
    ALTER TABLE deliveries_new RENAME TO deliveries;
    CREATE INDEX deliveries_pending ON deliveries(next_attempt_at) WHERE state = 'pending';
    """,
    # 10: many workers on one store (the PostgreSQL backend's reason; here one process works on the file, but
    # status shows the same): each worker's last sign of life, and its leases on sources (UTC ISO 8601 times)
    """
    CREATE TABLE workers (
        name          TEXT PRIMARY KEY,
        host          TEXT NOT NULL,
        pid           INTEGER NOT NULL,
        started_at    TEXT NOT NULL,
        last_seen     TEXT NOT NULL
    );
    CREATE TABLE leases (
        source        TEXT PRIMARY KEY,
        holder        TEXT,
        leased_at     TEXT,
        expires_at    TEXT
    );
    """,
)
