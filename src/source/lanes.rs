//! Per-employee lanes: one employee's messages never overlap and keep their delivery
//! order, while other employees' messages flow past.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Per-employee lanes: the messages waiting behind one in flight, by employee.
pub(super) struct Lanes<Job> {
    waiting: Arc<Mutex<HashMap<String, VecDeque<Job>>>>,
}

impl<Job> Default for Lanes<Job> {
    fn default() -> Self {
        Lanes {
            waiting: Arc::default(),
        }
    }
}

impl<Job> Clone for Lanes<Job> {
    fn clone(&self) -> Self {
        Lanes {
            waiting: self.waiting.clone(),
        }
    }
}

impl<Job> Lanes<Job> {
    /// Returns the job to run now if the employee's lane was idle (and marks it busy);
    /// otherwise queues it behind the message in flight.
    pub(super) fn join(&self, employee: &str, job: Job) -> Option<Job> {
        let mut waiting = self.waiting.lock().expect("lock poisoned");
        match waiting.get_mut(employee) {
            Some(queue) => {
                queue.push_back(job);
                None
            }
            None => {
                waiting.insert(employee.to_string(), VecDeque::new());
                Some(job)
            }
        }
    }

    /// The employee's next waiting job, or `None` (and the lane is closed).
    pub(super) fn next(&self, employee: &str) -> Option<Job> {
        let mut waiting = self.waiting.lock().expect("lock poisoned");
        let next = waiting.get_mut(employee).and_then(VecDeque::pop_front);
        if next.is_none() {
            waiting.remove(employee);
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::Lanes;

    #[test]
    fn one_employee_at_a_time_in_arrival_order_others_pass() {
        let lanes = Lanes::default();
        assert_eq!(lanes.join("E1", 1), Some(1), "an idle lane runs at once");
        assert_eq!(lanes.join("E1", 2), None, "queued behind the one in flight");
        assert_eq!(
            lanes.join("E2", 3),
            Some(3),
            "another employee is not held up"
        );
        assert_eq!(lanes.join("E1", 4), None);
        assert_eq!(lanes.next("E1"), Some(2));
        assert_eq!(lanes.next("E1"), Some(4));
        assert_eq!(lanes.next("E1"), None, "empty: the lane closes");
        assert_eq!(lanes.join("E1", 5), Some(5), "and is idle again");
    }
}
