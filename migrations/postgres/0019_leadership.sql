-- The leadership of the lab's duties (one row): each election takes the next epoch, and a duty
-- commits what it is about to do only while its epoch is still this one, so a leader that was
-- replaced a moment ago cannot send a BMC action the new leader sends too.
CREATE TABLE leadership (
    id     INTEGER PRIMARY KEY,
    epoch  BIGINT  NOT NULL,
    holder TEXT    NOT NULL,
    since  BIGINT  NOT NULL
);
