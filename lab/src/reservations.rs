//! Reservations: a user holds a machine for `[start, end)`. Two active reservations of one
//! machine never overlap: the insert is conditional and a database trigger refuses any overlap.

use crate::audit::record;
use crate::error::FieldErrors;
use crate::jobs::JobEvent;
use crate::model::{format_utc, Level, MachineState, Reservation, ReservationState};
use crate::{validate, Actor, Error, Lab, Result};

/// How far in the past a start may lie (a "from now" booking submitted a little late).
const START_GRACE_SECONDS: i64 = 5 * 60;

/// The most machines one booking of a set may take.
pub const MAX_SET: u32 = 256;

#[derive(sqlx::FromRow)]
struct ReservationRow {
    id: i64,
    machine_id: i64,
    machine_name: String,
    user_id: i64,
    username: String,
    start_at: i64,
    end_at: i64,
    note: String,
    state: String,
    created_at: i64,
    set_id: Option<i64>,
}

impl From<ReservationRow> for Reservation {
    fn from(r: ReservationRow) -> Self {
        Reservation {
            id: r.id,
            machine_id: r.machine_id,
            machine_name: r.machine_name,
            user_id: r.user_id,
            username: r.username,
            start_at: r.start_at,
            end_at: r.end_at,
            note: r.note,
            state: ReservationState::parse(&r.state).unwrap_or(ReservationState::Cancelled),
            created_at: r.created_at,
            set_id: r.set_id,
        }
    }
}

const SELECT_RESERVATIONS: &str =
    "SELECT r.id, r.machine_id, m.name AS machine_name, r.user_id, u.username,
        r.start_at, r.end_at, r.note, r.state, r.created_at, r.set_id
     FROM reservations r JOIN machines m ON m.id = r.machine_id JOIN users u ON u.id = r.user_id";

/// A reservation's end that baas has just dealt with.
#[derive(Debug, Clone)]
pub struct ReservationEnd {
    pub reservation: Reservation,
    /// The holder's jobs on the machine that were still waiting for their time, now cancelled.
    pub cancelled_jobs: Vec<i64>,
    /// Whether the machine is to be powered off: it has a BMC, the reservation ended recently
    /// ([`ACT_ON_ENDS_WITHIN_SECONDS`]), nobody else holds the machine now and it is not reset.
    pub power_off: bool,
    /// The deploy job that resets the machine to its reset image (instead of powering off).
    pub reset_job: Option<i64>,
}

/// Ends older than this (a server that was down for a day) are recorded but not acted on: the
/// machine may have had other users since.
pub const ACT_ON_ENDS_WITHIN_SECONDS: i64 = 3600;

/// The refusal of the database's own guard: SQLite's trigger message, or PostgreSQL's exclusion
/// violation (23P01).
fn is_overlap_error(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e)
        if e.message().contains("overlaps") || e.code().as_deref() == Some("23P01"))
}

impl Lab {
    /// Books a machine for `[start, end)`. Needs *use*, an available machine, and (except for
    /// admins) a slot within the lab's limits.
    pub async fn reserve(
        &self,
        actor: &Actor,
        machine_id: i64,
        start: i64,
        end: i64,
        note: &str,
    ) -> Result<Reservation> {
        self.require(actor, machine_id, Level::Use).await?;
        let user_id = actor.user_id.ok_or(Error::Forbidden)?;
        let note = self.check_slot(actor, start, end, note, false).await?;
        // Name and state only: the full view would decrypt BMC secrets and load MACs for nothing.
        let (machine_name, state): (String, String) =
            sqlx::query_as("SELECT name, state FROM machines WHERE id = $1")
                .bind(machine_id)
                .fetch_one(&self.db)
                .await?;
        if MachineState::parse(&state) != Some(MachineState::Available) {
            return Err(Error::Conflict(format!(
                "{machine_name} is in state {state} and cannot be booked"
            )));
        }
        let now = self.now();
        let mut tx = self.write().await?;
        // A write first, so SQLite takes the write lock before it reads: concurrent bookings queue.
        let inserted = sqlx::query_scalar::<_, i64>(
            "INSERT INTO reservations (machine_id, user_id, start_at, end_at, note, state, created_at, updated_at)
             SELECT $1, $2, $3, $4, $5, 'active', $6, $6
             WHERE EXISTS (SELECT 1 FROM machines WHERE id = $1 AND state = 'available')
               AND NOT EXISTS (SELECT 1 FROM reservations
                               WHERE machine_id = $1 AND state = 'active' AND start_at < $4 AND end_at > $3)
             RETURNING id",
        )
        .bind(machine_id)
        .bind(user_id)
        .bind(start)
        .bind(end)
        .bind(&note)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await;
        let id = match inserted {
            Ok(Some(id)) => id,
            Ok(None) => {
                drop(tx);
                return Err(self.explain_conflict(machine_id, start, end, None).await);
            }
            Err(e) if is_overlap_error(&e) => {
                drop(tx);
                return Err(self.explain_conflict(machine_id, start, end, None).await);
            }
            Err(e) => return Err(e.into()),
        };
        record(
            &mut tx,
            actor,
            "reservation.create",
            &format!("machine:{machine_name}"),
            &format!("#{id} {} → {}", format_utc(start), format_utc(end)),
        )
        .await?;
        tx.commit().await?;
        self.reservation(actor, id).await
    }

    /// Moves the end (extend or shorten) and, before it began, the start of an own reservation.
    pub async fn reschedule(
        &self,
        actor: &Actor,
        id: i64,
        start: i64,
        end: i64,
    ) -> Result<Reservation> {
        let current = self.reservation(actor, id).await?;
        self.require_owner_or_manager(actor, &current).await?;
        if current.state != ReservationState::Active || current.end_at <= self.now() {
            return Err(Error::Conflict(
                "this reservation is over and cannot be changed".into(),
            ));
        }
        let begun = current.start_at <= self.now();
        let start = if begun {
            if start != current.start_at {
                return Err(Error::invalid(
                    "start",
                    "cannot move the start of a reservation that has begun",
                ));
            }
            current.start_at
        } else {
            start
        };
        self.check_slot(actor, start, end, &current.note, begun)
            .await?;
        let mut tx = self.write().await?;
        let updated = sqlx::query(
            "UPDATE reservations SET start_at = $1, end_at = $2, updated_at = $3
             WHERE id = $4 AND state = 'active'
               AND NOT EXISTS (SELECT 1 FROM reservations o
                               WHERE o.machine_id = $5 AND o.id <> $4 AND o.state = 'active'
                                 AND o.start_at < $2 AND o.end_at > $1)",
        )
        .bind(start)
        .bind(end)
        .bind(self.now())
        .bind(id)
        .bind(current.machine_id)
        .execute(&mut *tx)
        .await;
        match updated {
            Ok(done) if done.rows_affected() == 1 => {}
            Ok(_) => {
                drop(tx);
                return Err(self
                    .explain_conflict(current.machine_id, start, end, Some(id))
                    .await);
            }
            Err(e) if is_overlap_error(&e) => {
                drop(tx);
                return Err(self
                    .explain_conflict(current.machine_id, start, end, Some(id))
                    .await);
            }
            Err(e) => return Err(e.into()),
        }
        record(
            &mut tx,
            actor,
            "reservation.reschedule",
            &format!("machine:{}", current.machine_name),
            &format!("#{id} {} → {}", format_utc(start), format_utc(end)),
        )
        .await?;
        tx.commit().await?;
        self.reservation(actor, id).await
    }

    /// Gives a reservation back early: the machine is free from now on.
    pub async fn release(&self, actor: &Actor, id: i64) -> Result<()> {
        let current = self.reservation(actor, id).await?;
        self.require_owner_or_manager(actor, &current).await?;
        self.finish(actor, current, ReservationState::Released)
            .await
    }

    /// Ends any reservation of a machine one manages (admins: any at all).
    pub async fn cancel(&self, actor: &Actor, id: i64) -> Result<()> {
        let current = self.reservation(actor, id).await?;
        self.require(actor, current.machine_id, Level::Manage)
            .await?;
        self.finish(actor, current, ReservationState::Cancelled)
            .await
    }

    async fn finish(
        &self,
        actor: &Actor,
        current: Reservation,
        state: ReservationState,
    ) -> Result<()> {
        let now = self.now();
        if current.state != ReservationState::Active || current.end_at <= now {
            return Err(Error::Conflict("this reservation is already over".into()));
        }
        // A reservation that has begun keeps its start and ends now, so history stays truthful.
        let end = if current.start_at < now {
            now
        } else {
            current.end_at
        };
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE reservations SET state = $1, end_at = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(state.as_str())
        .bind(end)
        .bind(now)
        .bind(current.id)
        .execute(&mut *tx)
        .await?;
        let action = match state {
            ReservationState::Cancelled => "reservation.cancel",
            _ => "reservation.release",
        };
        record(
            &mut tx,
            actor,
            action,
            &format!("machine:{}", current.machine_name),
            &format!("#{} of {}", current.id, current.username),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Books `count` machines tagged `tag` that the actor may use and that are free for
    /// `[start, end)`, all or none: one write transaction picks and books them, so two users
    /// asking for more than is left at once cannot both win, nor each get half. The bookings
    /// share a set id (the first one's id), by which the whole set is deployed to later. When
    /// too few are free then, the error says how many are, and from when enough are free for
    /// that long.
    pub async fn reserve_set(
        &self,
        actor: &Actor,
        tag: &str,
        count: u32,
        start: i64,
        end: i64,
        note: &str,
    ) -> Result<Vec<Reservation>> {
        let tag = tag.trim();
        let mut errors = FieldErrors::default();
        if tag.is_empty() {
            errors.add("tag", "name the tag the machines must have");
        }
        if !(1..=MAX_SET).contains(&count) {
            errors.add("count", format!("book 1 to {MAX_SET} machines at once"));
        }
        errors.into_result()?;
        let user_id = actor.user_id.ok_or(Error::Forbidden)?;
        let note = self.check_slot(actor, start, end, note, false).await?;
        let filter = crate::model::MachineFilter {
            tag: tag.into(),
            state: MachineState::Available.as_str().into(),
            ..Default::default()
        };
        let mut usable = Vec::new();
        for machine in self.find_machines(actor, &filter).await? {
            match self.require(actor, machine.id, Level::Use).await {
                Ok(_) => usable.push(machine),
                Err(Error::Forbidden | Error::NotFound(_)) => {}
                Err(other) => return Err(other),
            }
        }
        if usable.is_empty() {
            return Err(Error::NotFound(
                "no available machine with that tag that you may use",
            ));
        }
        let count = count as usize;
        let ids: Vec<i64> = usable.iter().map(|m| m.id).collect();
        let now = self.now();
        let mut tx = self.write().await?;
        // A write first, so SQLite takes the write lock before it reads: concurrent bookings
        // queue, and what is read free here is still free at the inserts.
        let placeholders = (0..ids.len())
            .map(|i| format!("${}", i + 3))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT m.id FROM machines m
             WHERE m.id IN ({placeholders}) AND m.state = 'available'
               AND NOT EXISTS (SELECT 1 FROM reservations r
                               WHERE r.machine_id = m.id AND r.state = 'active'
                                 AND r.start_at < $2 AND r.end_at > $1)
             ORDER BY m.name"
        );
        let mut query = sqlx::query_scalar::<_, i64>(&sql).bind(start).bind(end);
        for id in &ids {
            query = query.bind(*id);
        }
        let free = query.fetch_all(&mut *tx).await?;
        if free.len() < count {
            drop(tx);
            return Err(self.explain_too_few(&usable, tag, count, start, end).await);
        }
        let mut booked = Vec::with_capacity(count);
        let mut set_id: Option<i64> = None;
        for machine_id in &free[..count] {
            let inserted = sqlx::query_scalar::<_, i64>(
                "INSERT INTO reservations (machine_id, user_id, start_at, end_at, note, state, created_at, updated_at, set_id)
                 VALUES ($1, $2, $3, $4, $5, 'active', $6, $6, $7) RETURNING id",
            )
            .bind(machine_id)
            .bind(user_id)
            .bind(start)
            .bind(end)
            .bind(&note)
            .bind(now)
            .bind(set_id)
            .fetch_one(&mut *tx)
            .await;
            let id = match inserted {
                Ok(id) => id,
                // The database's own guard: a booking that slipped past the write lock.
                Err(e) if is_overlap_error(&e) => {
                    drop(tx);
                    return Err(self.explain_too_few(&usable, tag, count, start, end).await);
                }
                Err(e) => return Err(e.into()),
            };
            if count > 1 && set_id.is_none() {
                sqlx::query("UPDATE reservations SET set_id = $1 WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                set_id = Some(id);
            }
            booked.push(id);
        }
        let names: Vec<&str> = free[..count]
            .iter()
            .filter_map(|id| usable.iter().find(|m| m.id == *id))
            .map(|m| m.name.as_str())
            .collect();
        record(
            &mut tx,
            actor,
            "reservation.create",
            &format!("tag:{tag}"),
            &format!(
                "#{} {} → {}: {}",
                booked
                    .iter()
                    .map(|id| id.to_string())
                    .collect::<Vec<_>>()
                    .join(", #"),
                format_utc(start),
                format_utc(end),
                names.join(", ")
            ),
        )
        .await?;
        tx.commit().await?;
        let mut reservations = Vec::with_capacity(count);
        for id in booked {
            reservations.push(self.reservation(actor, id).await?);
        }
        Ok(reservations)
    }

    /// The conflict of a set that does not fit: how many of the usable machines are free for
    /// `[start, end)`, and the earliest start from which `count` of them are free for as long
    /// (the machines named), if ever.
    async fn explain_too_few(
        &self,
        usable: &[crate::model::Machine],
        tag: &str,
        count: usize,
        start: i64,
        end: i64,
    ) -> Error {
        let duration = end - start;
        let mut booked: Vec<Vec<(i64, i64)>> = Vec::with_capacity(usable.len());
        for machine in usable {
            match sqlx::query_as::<_, (i64, i64)>(
                "SELECT start_at, end_at FROM reservations
                 WHERE machine_id = $1 AND state = 'active' AND end_at > $2",
            )
            .bind(machine.id)
            .bind(start)
            .fetch_all(&self.db)
            .await
            {
                Ok(slots) => booked.push(slots),
                Err(e) => return Error::Database(e),
            }
        }
        let free = booked
            .iter()
            .filter(|slots| {
                slots
                    .iter()
                    .all(|(from, until)| *from >= end || *until <= start)
            })
            .count();
        let wanted = if count == 1 {
            "one".to_string()
        } else {
            count.to_string()
        };
        let now_free = format!(
            "{free} of the {} machines tagged {tag} that you may use {} free then, {wanted} needed",
            usable.len(),
            if free == 1 { "is" } else { "are" }
        );
        if usable.len() < count {
            return Error::Conflict(format!("{now_free}: there are not that many, at any time"));
        }
        // Enough are free first either at the start or when some booking ends.
        let mut candidates: Vec<i64> = booked
            .iter()
            .flatten()
            .map(|(_, until)| *until)
            .filter(|at| *at > start)
            .collect();
        candidates.push(start);
        candidates.sort_unstable();
        candidates.dedup();
        for at in candidates {
            let free_then: Vec<&str> = usable
                .iter()
                .zip(&booked)
                .filter(|(_, slots)| {
                    slots
                        .iter()
                        .all(|(from, until)| *from >= at + duration || *until <= at)
                })
                .map(|(machine, _)| machine.name.as_str())
                .collect();
            if free_then.len() >= count {
                return Error::Conflict(format!(
                    "{now_free}; {wanted} {} free for that long from {} ({})",
                    if count == 1 { "is" } else { "are" },
                    format_utc(at),
                    free_then[..count].join(", ")
                ));
            }
        }
        Error::Conflict(now_free)
    }

    /// Deals with every reservation that ended (its time came, or it was released or cancelled
    /// after it began) and was not dealt with yet: the holder's queued jobs on the machine are
    /// cancelled, the end is audited, and the machine is returned for powering off when that is
    /// due (see [`ReservationEnd::power_off`]). Reservations cancelled before they began are only
    /// marked. Each end is dealt with once, even with several callers.
    pub async fn wrap_up_reservations(&self) -> Result<Vec<ReservationEnd>> {
        self.wrap_up_reservations_under(None).await
    }

    /// As [`Lab::wrap_up_reservations`], for the leader's duty: each end is claimed under
    /// `fence`, so a replaced leader claims none (and powers nothing off).
    pub async fn wrap_up_reservations_under(
        &self,
        fence: Option<crate::leadership::Fence>,
    ) -> Result<Vec<ReservationEnd>> {
        let now = self.now();
        let due: Vec<ReservationRow> = sqlx::query_as(&format!(
            "{SELECT_RESERVATIONS} WHERE r.wrapped_up_at IS NULL
               AND (r.state <> 'active' OR r.end_at <= $1)
             ORDER BY r.end_at, r.id"
        ))
        .bind(now)
        .fetch_all(&self.db)
        .await?;
        let mut ends = Vec::new();
        for row in due {
            let reservation = Reservation::from(row);
            // Ended early, a reservation's end is when it was given back; not begun by then,
            // nothing ran on the machine for it.
            let began = reservation.start_at < reservation.end_at.min(now);
            let mut tx = self.write().await?;
            match Lab::check_fence(&mut tx, fence).await {
                Ok(()) => {}
                // Replaced meanwhile: what this leader claimed so far is still its to finish
                // (the new leader finds it claimed), the rest is the new leader's.
                Err(Error::Fenced { .. }) if !ends.is_empty() => break,
                Err(error) => return Err(error),
            }
            let claimed = sqlx::query(
                "UPDATE reservations SET wrapped_up_at = $1 WHERE id = $2 AND wrapped_up_at IS NULL",
            )
            .bind(now)
            .bind(reservation.id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !claimed || !began {
                tx.commit().await?;
                continue;
            }
            let queued: Vec<(i64,)> = sqlx::query_as(
                "SELECT id FROM boot_jobs
                 WHERE machine_id = $1 AND requested_by = $2 AND state = 'queued'",
            )
            .bind(reservation.machine_id)
            .bind(reservation.user_id)
            .fetch_all(&mut *tx)
            .await?;
            let holder_now: Option<(i64,)> = sqlx::query_as(
                "SELECT id FROM reservations
                 WHERE machine_id = $1 AND id <> $2 AND state = 'active'
                   AND start_at <= $3 AND end_at > $3",
            )
            .bind(reservation.machine_id)
            .bind(reservation.id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            record(
                &mut tx,
                &Actor::system(),
                "reservation.end",
                &format!("machine:{}", reservation.machine_name),
                &format!(
                    "#{} of {} ({}); {} queued job(s) cancelled",
                    reservation.id,
                    reservation.username,
                    reservation.state.as_str(),
                    queued.len()
                ),
            )
            .await?;
            tx.commit().await?;
            let mut cancelled_jobs = Vec::new();
            for (job_id,) in queued {
                let ended = self
                    .job_event(job_id, JobEvent::ReservationEnded, "the reservation ended")
                    .await;
                match ended {
                    Ok(_) => cancelled_jobs.push(job_id),
                    Err(Error::Refused(_)) => {}
                    Err(error) => return Err(error),
                }
            }
            let act = now - reservation.end_at < ACT_ON_ENDS_WITHIN_SECONDS && holder_now.is_none();
            let reset_job = if act {
                self.start_reset(&reservation).await?
            } else {
                None
            };
            let power_off = act
                && reset_job.is_none()
                && self.machine_bmc(reservation.machine_id).await.is_ok();
            ends.push(ReservationEnd {
                reservation,
                cancelled_jobs,
                power_off,
                reset_job,
            });
        }
        Ok(ends)
    }

    /// The lab calendar for `[from, to)`: every machine the actor may view (with tag `tag`,
    /// when given) and its active reservations in that window.
    pub async fn calendar(
        &self,
        actor: &Actor,
        tag: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<crate::model::CalendarRow>> {
        if to <= from || to - from > 92 * 86_400 {
            return Err(Error::invalid(
                "to",
                "the window must end after it starts, within 92 days",
            ));
        }
        let filter = crate::model::MachineFilter {
            tag: tag.trim().into(),
            ..Default::default()
        };
        let machines = self.find_machines(actor, &filter).await?;
        let bookings: Vec<(i64, i64, i64, String, i64, i64)> = sqlx::query_as(
            "SELECT r.machine_id, r.id, r.user_id, u.username, r.start_at, r.end_at
             FROM reservations r JOIN users u ON u.id = r.user_id
             WHERE r.state = 'active' AND r.end_at > $1 AND r.start_at < $2
             ORDER BY r.start_at",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.db)
        .await?;
        Ok(machines
            .into_iter()
            .map(|m| crate::model::CalendarRow {
                bookings: bookings
                    .iter()
                    .filter(|b| b.0 == m.id)
                    .map(|b| crate::model::CalendarBooking {
                        reservation_id: b.1,
                        username: b.3.clone(),
                        start_at: b.4,
                        end_at: b.5,
                        mine: actor.is(b.2),
                    })
                    .collect(),
                machine_id: m.id,
                machine_name: m.name,
                tags: m.tags,
                state: m.state,
                bookable: m.my_level >= Level::Use && m.state == MachineState::Available,
            })
            .collect())
    }

    /// One reservation: for its owner or anyone who may view its machine.
    pub async fn reservation(&self, actor: &Actor, id: i64) -> Result<Reservation> {
        let row: Option<ReservationRow> =
            sqlx::query_as(&format!("{SELECT_RESERVATIONS} WHERE r.id = $1"))
                .bind(id)
                .fetch_optional(&self.db)
                .await?;
        let reservation: Reservation = row.ok_or(Error::NotFound("reservation"))?.into();
        if !actor.is(reservation.user_id) {
            self.require(actor, reservation.machine_id, Level::View)
                .await
                .map_err(|_| Error::NotFound("reservation"))?;
        }
        Ok(reservation)
    }

    /// A machine's calendar. Viewers see active reservations that have not ended; managers see
    /// the whole history too.
    pub async fn machine_reservations(
        &self,
        actor: &Actor,
        machine_id: i64,
    ) -> Result<Vec<Reservation>> {
        let level = self.require(actor, machine_id, Level::View).await?;
        let rows: Vec<ReservationRow> = if level >= Level::Manage {
            sqlx::query_as(&format!(
                "{SELECT_RESERVATIONS} WHERE r.machine_id = $1 ORDER BY r.start_at DESC LIMIT 500"
            ))
            .bind(machine_id)
            .fetch_all(&self.db)
            .await?
        } else {
            sqlx::query_as(&format!(
                "{SELECT_RESERVATIONS} WHERE r.machine_id = $1 AND r.state = 'active' AND r.end_at > $2
                 ORDER BY r.start_at"
            ))
            .bind(machine_id)
            .bind(self.now())
            .fetch_all(&self.db)
            .await?
        };
        Ok(rows.into_iter().map(Reservation::from).collect())
    }

    /// The actor's own reservations: current and future first, then the last month of history.
    pub async fn my_reservations(&self, actor: &Actor) -> Result<Vec<Reservation>> {
        let Some(user_id) = actor.user_id else {
            return Ok(Vec::new());
        };
        let rows: Vec<ReservationRow> = sqlx::query_as(&format!(
            "{SELECT_RESERVATIONS} WHERE r.user_id = $1 AND r.end_at > $2 ORDER BY r.start_at DESC"
        ))
        .bind(user_id)
        .bind(self.now() - 30 * 24 * 3600)
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(Reservation::from).collect())
    }

    pub(crate) async fn require_owner_or_manager(
        &self,
        actor: &Actor,
        reservation: &Reservation,
    ) -> Result<()> {
        if actor.is(reservation.user_id) {
            self.require(actor, reservation.machine_id, Level::Use)
                .await?;
        } else {
            self.require(actor, reservation.machine_id, Level::Manage)
                .await?;
        }
        Ok(())
    }

    /// Validates a slot and note against the clock and the lab's limits; returns the clean note.
    /// The start of a reservation that has begun (`begun`) lies in the past by nature.
    async fn check_slot(
        &self,
        actor: &Actor,
        start: i64,
        end: i64,
        note: &str,
        begun: bool,
    ) -> Result<String> {
        let now = self.now();
        let mut errors = FieldErrors::default();
        let note = validate::text(&mut errors, "note", note, validate::MAX_TEXT, false);
        if end <= start {
            errors.add("end", "must be after the start");
        } else if end <= now {
            errors.add("end", "must be in the future");
        }
        if !begun && start < now - START_GRACE_SECONDS {
            errors.add("start", "must not be in the past");
        }
        if !actor.is_admin && end > start {
            let limits = self.limits().await?;
            if end - start > limits.max_duration_hours * 3600 {
                errors.add(
                    "end",
                    format!(
                        "a reservation may last at most {} hours",
                        limits.max_duration_hours
                    ),
                );
            }
            if start > now + limits.max_advance_days * 24 * 3600 {
                errors.add(
                    "start",
                    format!("may be at most {} days ahead", limits.max_advance_days),
                );
            }
        }
        errors.into_result()?;
        Ok(note)
    }

    /// A conflict error that says who holds the clashing slot, so the user can pick another.
    async fn explain_conflict(
        &self,
        machine_id: i64,
        start: i64,
        end: i64,
        except: Option<i64>,
    ) -> Error {
        let clash: std::result::Result<Option<(i64, String, i64, i64)>, sqlx::Error> = sqlx::query_as(
            "SELECT r.id, u.username, r.start_at, r.end_at FROM reservations r JOIN users u ON u.id = r.user_id
             WHERE r.machine_id = $1 AND r.state = 'active' AND r.start_at < $3 AND r.end_at > $2
               AND ($4 IS NULL OR r.id <> $4)
             ORDER BY r.start_at LIMIT 1",
        )
        .bind(machine_id)
        .bind(start)
        .bind(end)
        .bind(except)
        .fetch_optional(&self.db)
        .await;
        match clash {
            Ok(Some((id, username, from, until))) => Error::Conflict(format!(
                "the machine is already reserved by {username} from {} to {} (reservation {id})",
                format_utc(from),
                format_utc(until)
            )),
            Ok(None) => Error::Conflict("the machine is not available for that time".into()),
            Err(e) => Error::Database(e),
        }
    }

    /// Extends an own reservation (or one of a machine one manages) by `seconds` from its
    /// current end, when the calendar and the lab's limits allow; the error says why not.
    pub async fn extend_reservation(
        &self,
        actor: &Actor,
        id: i64,
        seconds: i64,
    ) -> Result<crate::model::Reservation> {
        let current = self.reservation(actor, id).await?;
        self.require_owner_or_manager(actor, &current).await?;
        if !(60..=365 * 86_400).contains(&seconds) {
            return Err(Error::invalid("by", "extend by one minute to a year"));
        }
        self.reschedule(actor, id, current.start_at, current.end_at + seconds)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Limits, Subject};
    use crate::testing;

    const HOUR: i64 = 3600;

    async fn machine_for(lab: &Lab, users: &[&Actor]) -> i64 {
        let admin = testing::admin();
        let machine = lab
            .create_machine(&admin, testing::machine_input("node1", "52:54:00:00:00:01"))
            .await
            .unwrap();
        for user in users {
            lab.grant(
                &admin,
                machine.id,
                Subject::User(user.user_id.unwrap()),
                Level::Use,
            )
            .await
            .unwrap();
        }
        machine.id
    }

    /// Machines (name, MAC, tags), each usable by `users`.
    async fn tagged_machines(
        lab: &Lab,
        specs: &[(String, String, &str)],
        users: &[&Actor],
    ) -> Vec<i64> {
        let admin = testing::admin();
        let mut ids = Vec::new();
        for (name, mac, tags) in specs {
            let machine = lab
                .create_machine(
                    &admin,
                    crate::model::MachineInput {
                        tags: (*tags).into(),
                        ..testing::machine_input(name, mac)
                    },
                )
                .await
                .unwrap();
            for user in users {
                lab.grant(
                    &admin,
                    machine.id,
                    Subject::User(user.user_id.unwrap()),
                    Level::Use,
                )
                .await
                .unwrap();
            }
            ids.push(machine.id);
        }
        ids
    }

    /// Machines tagged `gpu` (and one untagged), usable by `users`.
    async fn gpu_pool(lab: &Lab, users: &[&Actor]) -> Vec<i64> {
        let specs = [
            ("gpu1", "52:54:00:00:00:11", "gpu, big"),
            ("gpu2", "52:54:00:00:00:12", "gpu"),
            ("plain", "52:54:00:00:00:13", ""),
        ]
        .map(|(name, mac, tags)| (name.to_string(), mac.to_string(), tags));
        tagged_machines(lab, &specs, users).await
    }

    #[tokio::test]
    async fn reserving_any_machine_with_a_tag_books_a_free_one_or_says_when_one_frees_up() {
        let (lab, _dir) = testing::lab().await;
        let alice = testing::user(&lab, "alice").await;
        let bob = testing::user(&lab, "bob").await;
        let carol = testing::user(&lab, "carol").await;
        let pool = gpu_pool(&lab, &[&alice, &bob]).await;
        let t = crate::now() + HOUR;

        let first = lab
            .reserve_set(&alice, "gpu", 1, t, t + HOUR, "")
            .await
            .unwrap()
            .remove(0);
        let second = lab
            .reserve_set(&bob, "gpu", 1, t, t + HOUR, "")
            .await
            .unwrap()
            .remove(0);
        assert_eq!(first.set_id, None, "a single booking is no set");
        assert_ne!(
            first.machine_id, second.machine_id,
            "two machines, one each"
        );
        assert!(pool[..2].contains(&first.machine_id) && pool[..2].contains(&second.machine_id));

        // Both taken: the answer names the first machine free for that long, and when.
        lab.reserve(&alice, pool[0], t + HOUR, t + 3 * HOUR, "")
            .await
            .unwrap();
        match lab.reserve_set(&bob, "gpu", 1, t, t + HOUR, "").await {
            Err(Error::Conflict(why)) => {
                assert!(why.contains("gpu2"), "{why}");
                assert!(why.contains(&format_utc(t + HOUR)), "{why}");
            }
            other => panic!("{other:?}"),
        }
        match lab.reserve_set(&carol, "gpu", 1, t, t + HOUR, "").await {
            Err(Error::NotFound(_)) => {}
            other => panic!("carol may use none of them: {other:?}"),
        }
        match lab.reserve_set(&alice, "  ", 0, t, t + HOUR, "").await {
            Err(Error::Invalid(fields)) => {
                assert!(fields.to_string().contains("tag"), "{fields}");
                assert!(fields.to_string().contains("count"), "{fields}");
            }
            other => panic!("{other:?}"),
        }
    }

    /// `count` machines tagged `rack`, each usable by `users`.
    async fn rack(lab: &Lab, count: usize, users: &[&Actor]) -> Vec<i64> {
        let specs: Vec<_> = (0..count)
            .map(|i| {
                (
                    format!("node-{i:02}"),
                    format!("52:54:00:00:01:{i:02x}"),
                    "rack",
                )
            })
            .collect();
        tagged_machines(lab, &specs, users).await
    }

    #[tokio::test]
    async fn a_set_of_machines_is_booked_all_or_none_and_a_refusal_says_how_many_are_free_and_when_enough_are(
    ) {
        let (lab, _dir) = testing::lab().await;
        let alice = testing::user(&lab, "alice").await;
        let bob = testing::user(&lab, "bob").await;
        let machines = rack(&lab, 4, &[&alice, &bob]).await;
        let t = crate::now() + HOUR;

        let set = lab
            .reserve_set(&alice, "rack", 3, t, t + 2 * HOUR, "course")
            .await
            .unwrap();
        assert_eq!(set.len(), 3);
        let set_id = set[0].id;
        assert!(set.iter().all(|r| r.set_id == Some(set_id)), "{set:?}");
        assert!(set.iter().all(|r| machines.contains(&r.machine_id)));
        let mut booked: Vec<i64> = set.iter().map(|r| r.machine_id).collect();
        booked.dedup();
        assert_eq!(booked.len(), 3, "three different machines");

        // Two are asked for, one is free: nothing is booked, and the answer says how many are
        // free now and from when two are (the end of alice's set).
        let before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reservations")
            .fetch_one(&lab.db)
            .await
            .unwrap();
        match lab
            .reserve_set(&bob, "rack", 2, t + HOUR, t + 2 * HOUR, "")
            .await
        {
            Err(Error::Conflict(why)) => {
                assert!(why.contains("1 of the 4 machines tagged rack"), "{why}");
                assert!(why.contains(&format_utc(t + 2 * HOUR)), "{why}");
            }
            other => panic!("{other:?}"),
        }
        let after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reservations")
            .fetch_one(&lab.db)
            .await
            .unwrap();
        assert_eq!(before, after, "a refused set books nothing");
        match lab.reserve_set(&bob, "rack", 5, t, t + HOUR, "").await {
            Err(Error::Conflict(why)) => assert!(why.contains("not that many"), "{why}"),
            other => panic!("{other:?}"),
        }
        // After the set, all four are free again.
        let later = lab
            .reserve_set(&bob, "rack", 4, t + 2 * HOUR, t + 3 * HOUR, "")
            .await
            .unwrap();
        assert_eq!(later.len(), 4);
    }

    #[tokio::test]
    async fn two_users_asking_for_six_of_eight_machines_at_once_exactly_one_wins() {
        let (lab, _dir) = testing::lab().await;
        let alice = testing::user(&lab, "alice").await;
        let bob = testing::user(&lab, "bob").await;
        rack(&lab, 8, &[&alice, &bob]).await;
        let t = crate::now() + HOUR;
        for round in 0..5 {
            let at = t + round * 10 * HOUR;
            let (a, b) = tokio::join!(
                lab.reserve_set(&alice, "rack", 6, at, at + HOUR, ""),
                lab.reserve_set(&bob, "rack", 6, at, at + HOUR, ""),
            );
            let won = [&a, &b].iter().filter(|r| r.is_ok()).count();
            assert_eq!(won, 1, "round {round}: {a:?} / {b:?}");
            let lost = if a.is_ok() { b } else { a };
            assert!(
                matches!(lost, Err(Error::Conflict(ref why)) if why.contains("2 of the 8")),
                "{lost:?}"
            );
            let booked: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM reservations WHERE start_at = $1 AND state = 'active'",
            )
            .bind(at)
            .fetch_one(&lab.db)
            .await
            .unwrap();
            assert_eq!(booked, 6, "round {round}");
        }
    }

    #[tokio::test]
    async fn overlapping_reservations_are_refused_with_the_holder_named() {
        let (lab, _dir) = testing::lab().await;
        let alice = testing::user(&lab, "alice").await;
        let bob = testing::user(&lab, "bob").await;
        let machine = machine_for(&lab, &[&alice, &bob]).await;
        let t = crate::now() + HOUR;
        lab.reserve(&alice, machine, t, t + 2 * HOUR, "kernel test")
            .await
            .unwrap();
        let err = lab
            .reserve(&bob, machine, t + HOUR, t + 3 * HOUR, "")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)));
        assert!(err.to_string().contains("alice"), "{err}");
        // Touching intervals are fine: [start, end) is half open.
        lab.reserve(&bob, machine, t + 2 * HOUR, t + 3 * HOUR, "")
            .await
            .unwrap();
        lab.reserve(&bob, machine, t - HOUR, t, "").await.unwrap();
    }

    #[tokio::test]
    async fn reversed_past_and_over_limit_ranges_name_the_field() {
        let (lab, _dir) = testing::lab().await;
        let alice = testing::user(&lab, "alice").await;
        let machine = machine_for(&lab, &[&alice]).await;
        let t = crate::now() + HOUR;
        let err = lab
            .reserve(&alice, machine, t, t - HOUR, "")
            .await
            .unwrap_err();
        assert_eq!(err.field_errors()[0].field, "end");
        let err = lab
            .reserve(&alice, machine, t - 3 * HOUR, t - 2 * HOUR, "")
            .await
            .unwrap_err();
        assert!(err.field_errors().iter().any(|e| e.field == "start"));
        lab.set_limits(
            &testing::admin(),
            Limits {
                max_duration_hours: 4,
                max_advance_days: 2,
                ..Limits::default()
            },
        )
        .await
        .unwrap();
        let err = lab
            .reserve(&alice, machine, t, t + 5 * HOUR, "")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("at most 4 hours"), "{err}");
        let err = lab
            .reserve(&alice, machine, t + 72 * HOUR, t + 73 * HOUR, "")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("at most 2 days"), "{err}");
        let none: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reservations")
            .fetch_one(lab.pool())
            .await
            .unwrap();
        assert_eq!(none, 0);
    }

    #[tokio::test]
    async fn machines_in_maintenance_cannot_be_booked() {
        let (lab, _dir) = testing::lab().await;
        let alice = testing::user(&lab, "alice").await;
        let machine = machine_for(&lab, &[&alice]).await;
        sqlx::query("UPDATE machines SET state = 'maintenance'")
            .execute(lab.pool())
            .await
            .unwrap();
        let t = crate::now() + HOUR;
        let err = lab
            .reserve(&alice, machine, t, t + HOUR, "")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("maintenance"), "{err}");
    }

    #[tokio::test]
    async fn viewers_cannot_book_and_strangers_do_not_see_the_machine() {
        let (lab, _dir) = testing::lab().await;
        let viewer = testing::user(&lab, "viewer").await;
        let stranger = testing::user(&lab, "stranger").await;
        let machine = machine_for(&lab, &[]).await;
        lab.grant(
            &testing::admin(),
            machine,
            Subject::User(viewer.user_id.unwrap()),
            Level::View,
        )
        .await
        .unwrap();
        let t = crate::now() + HOUR;
        assert!(matches!(
            lab.reserve(&viewer, machine, t, t + HOUR, "").await,
            Err(Error::Forbidden)
        ));
        assert!(matches!(
            lab.reserve(&stranger, machine, t, t + HOUR, "").await,
            Err(Error::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn extend_shorten_release_and_cancel() {
        let (lab, _dir) = testing::lab().await;
        let alice = testing::user(&lab, "alice").await;
        let bob = testing::user(&lab, "bob").await;
        let machine = machine_for(&lab, &[&alice, &bob]).await;
        let t = crate::now() + HOUR;
        let mine = lab.reserve(&alice, machine, t, t + HOUR, "").await.unwrap();
        let theirs = lab
            .reserve(&bob, machine, t + 3 * HOUR, t + 4 * HOUR, "")
            .await
            .unwrap();
        let longer = lab
            .reschedule(&alice, mine.id, t, t + 2 * HOUR)
            .await
            .unwrap();
        assert_eq!(longer.end_at, t + 2 * HOUR);
        let err = lab
            .reschedule(&alice, mine.id, t, t + 4 * HOUR)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("bob"), "{err}");
        assert!(matches!(
            lab.release(&bob, mine.id).await,
            Err(Error::Forbidden)
        ));
        lab.release(&alice, mine.id).await.unwrap();
        assert!(lab.reserve(&bob, machine, t, t + HOUR, "").await.is_ok());
        assert!(matches!(
            lab.cancel(&alice, theirs.id).await,
            Err(Error::Forbidden)
        ));
        lab.cancel(&testing::admin(), theirs.id).await.unwrap();
        let calendar = lab.machine_reservations(&alice, machine).await.unwrap();
        assert_eq!(calendar.len(), 1, "viewers see only active slots");
        let history = lab
            .machine_reservations(&testing::admin(), machine)
            .await
            .unwrap();
        assert_eq!(history.len(), 3, "managers see the whole history");
    }

    #[tokio::test]
    async fn the_database_itself_refuses_an_overlapping_row() {
        let (lab, _dir) = testing::lab().await;
        let alice = testing::user(&lab, "alice").await;
        let machine = machine_for(&lab, &[&alice]).await;
        let t = crate::now() + HOUR;
        lab.reserve(&alice, machine, t, t + HOUR, "").await.unwrap();
        let raw = sqlx::query(
            "INSERT INTO reservations (machine_id, user_id, start_at, end_at, state, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 'active', 0, 0)",
        )
        .bind(machine)
        .bind(alice.user_id.unwrap())
        .bind(t + 10)
        .bind(t + 20)
        .execute(lab.pool())
        .await;
        assert!(raw.is_err_and(|e| is_overlap_error(&e)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn many_concurrent_conflicting_bookings_have_exactly_one_winner() {
        let (lab, _dir) = testing::lab().await;
        let mut users = Vec::new();
        for i in 0..12 {
            users.push(testing::user(&lab, &format!("user{i}")).await);
        }
        let refs: Vec<&Actor> = users.iter().collect();
        let machine = machine_for(&lab, &refs).await;
        let t = crate::now() + HOUR;
        let mut tasks = Vec::new();
        for (i, user) in users.into_iter().enumerate() {
            for j in 0..4i64 {
                let lab = lab.clone();
                let user = user.clone();
                // Every slot overlaps every other: all start within the first hour, all last 2 h.
                let start = t + (i as i64 * 4 + j) * 60;
                tasks.push(tokio::spawn(async move {
                    lab.reserve(&user, machine, start, start + 2 * HOUR, "")
                        .await
                }));
            }
        }
        let mut winners = 0;
        let mut conflicts = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => winners += 1,
                Err(Error::Conflict(_)) => conflicts += 1,
                Err(other) => panic!("unexpected error: {other}"),
            }
        }
        assert_eq!((winners, conflicts), (1, 47));
        let active: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM reservations WHERE state = 'active'")
                .fetch_one(lab.pool())
                .await
                .unwrap();
        assert_eq!(active, 1);
    }

    #[tokio::test]
    async fn the_calendar_shows_visible_machines_by_tag_with_the_window_bookings_and_own_marked() {
        let (lab, _dir) = testing::lab().await;
        let alice = testing::user(&lab, "alice").await;
        let bob = testing::user(&lab, "bob").await;
        let carol = testing::user(&lab, "carol").await;
        let pool = gpu_pool(&lab, &[&alice, &bob]).await;
        let t = crate::now() + HOUR;
        lab.reserve(&alice, pool[0], t, t + HOUR, "").await.unwrap();
        lab.reserve(&bob, pool[0], t + HOUR, t + 2 * HOUR, "")
            .await
            .unwrap();
        // Outside the window.
        lab.reserve(&bob, pool[1], t + 30 * HOUR, t + 31 * HOUR, "")
            .await
            .unwrap();

        let rows = lab
            .calendar(&alice, "gpu", t - HOUR, t + 24 * HOUR)
            .await
            .unwrap();
        let names: Vec<&str> = rows.iter().map(|r| r.machine_name.as_str()).collect();
        assert_eq!(names, ["gpu1", "gpu2"]);
        let bookings: Vec<(&str, bool)> = rows[0]
            .bookings
            .iter()
            .map(|b| (b.username.as_str(), b.mine))
            .collect();
        assert_eq!(bookings, [("alice", true), ("bob", false)]);
        assert!(rows[1].bookings.is_empty());
        assert!(rows.iter().all(|r| r.bookable));
        assert_eq!(
            lab.calendar(&alice, "", t, t + HOUR).await.unwrap().len(),
            3
        );
        assert!(
            lab.calendar(&carol, "", t, t + HOUR)
                .await
                .unwrap()
                .is_empty(),
            "machines carol may not view are not in her calendar"
        );
        let bad = lab.calendar(&alice, "", t, t - 1).await.unwrap_err();
        assert_eq!(bad.field_errors()[0].field, "to");
    }
}
