-- Durations are bounded since issue 11 (at most P1000Y). A task stored before that may carry a ttl
-- so long that now() + ttl is out of range, which would fail every write that ends it (cancel,
-- expiry, a lost worker): cut such ttls to the ceiling.
UPDATE task SET ttl = interval 'P1000Y' WHERE ttl > interval 'P1000Y';
