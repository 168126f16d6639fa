-- When baas dealt with a reservation's end (the holder's queued jobs cancelled, the machine
-- powered off); NULL while that is still to do. Reservations released or cancelled before this
-- migration count as dealt with.
ALTER TABLE reservations ADD COLUMN wrapped_up_at BIGINT;
UPDATE reservations SET wrapped_up_at = updated_at WHERE state <> 'active';
