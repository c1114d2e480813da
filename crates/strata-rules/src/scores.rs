//! The seed's engagement score (section 4.1), read with the convention of contract
//! section 5: lower bounds inclusive, a value takes the highest bucket it reaches.
//! The default rules compute it as a score block; this is the independent reference
//! that the tests hold those rules to (`tests/defaults.rs`).

/// Points for usage frequency: `avg_weekly_sessions_28d` >= 7: 30, >= 4: 20, >= 2: 12,
/// >= 1: 5, else 0.
pub fn frequency_points(weekly_sessions: f64) -> f64 {
    bucket(weekly_sessions, &[(7.0, 30.0), (4.0, 20.0), (2.0, 12.0), (1.0, 5.0)], 0.0)
}

/// Points for feature breadth: `feature_breadth_30d` >= 0.80: 25, >= 0.50: 18,
/// >= 0.25: 10, else 3 (null: 3).
pub fn breadth_points(breadth: Option<f64>) -> f64 {
    breadth.map_or(3.0, |b| bucket(b, &[(0.80, 25.0), (0.50, 18.0), (0.25, 10.0)], 3.0))
}

/// Points for engagement depth: `avg_session_minutes_28d` > 30: 25, >= 15: 18,
/// >= 5: 10, else 3 (null: the lowest bucket, 3).
pub fn depth_points(minutes: Option<f64>) -> f64 {
    match minutes {
        Some(m) if m > 30.0 => 25.0,
        Some(m) => bucket(m, &[(15.0, 18.0), (5.0, 10.0)], 3.0),
        None => 3.0,
    }
}

/// Points for recency: `floor(days_since_last_seen)` 0: 20, 1-3: 15, 4-7: 8, 8-14: 3,
/// else 0 (null: 0).
pub fn recency_points(days_since_last_seen: Option<f64>) -> f64 {
    match days_since_last_seen.map(f64::floor) {
        Some(d) if d < 1.0 => 20.0,
        Some(d) if d <= 3.0 => 15.0,
        Some(d) if d <= 7.0 => 8.0,
        Some(d) if d <= 14.0 => 3.0,
        _ => 0.0,
    }
}

/// The engagement score, 0-100: the sum of the four components.
pub fn engagement(weekly: f64, breadth: Option<f64>, minutes: Option<f64>, since_last: Option<f64>) -> f64 {
    frequency_points(weekly) + breadth_points(breadth) + depth_points(minutes) + recency_points(since_last)
}

/// The engagement tier of a score: 80-100 Highly engaged, 60-79 Engaged, 40-59
/// Moderate, 20-39 Low, 0-19 Disengaged.
pub fn engagement_tier(score: f64) -> &'static str {
    match score {
        s if s >= 80.0 => "Highly engaged",
        s if s >= 60.0 => "Engaged",
        s if s >= 40.0 => "Moderate",
        s if s >= 20.0 => "Low",
        _ => "Disengaged",
    }
}

fn bucket(v: f64, steps: &[(f64, f64)], otherwise: f64) -> f64 {
    steps.iter().find(|(lo, _)| v >= *lo).map_or(otherwise, |(_, p)| *p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bucket_edge_of_the_engagement_table() {
        for (v, p) in [
            (7.0, 30.0),
            (6.99, 20.0),
            (4.0, 20.0),
            (3.99, 12.0),
            (2.0, 12.0),
            (1.99, 5.0),
            (1.0, 5.0),
            (0.99, 0.0),
            (0.0, 0.0),
        ] {
            assert_eq!(frequency_points(v), p, "frequency {v}");
        }
        for (v, p) in [
            (Some(0.8), 25.0),
            (Some(0.79), 18.0),
            (Some(0.5), 18.0),
            (Some(0.49), 10.0),
            (Some(0.25), 10.0),
            (Some(0.24), 3.0),
            (None, 3.0),
        ] {
            assert_eq!(breadth_points(v), p, "breadth {v:?}");
        }
        for (v, p) in [
            (Some(30.01), 25.0),
            (Some(30.0), 18.0),
            (Some(15.0), 18.0),
            (Some(14.99), 10.0),
            (Some(5.0), 10.0),
            (Some(4.99), 3.0),
            (None, 3.0),
        ] {
            assert_eq!(depth_points(v), p, "depth {v:?}");
        }
        for (v, p) in [
            (Some(0.99), 20.0),
            (Some(1.0), 15.0),
            (Some(3.99), 15.0),
            (Some(4.0), 8.0),
            (Some(7.99), 8.0),
            (Some(8.0), 3.0),
            (Some(14.99), 3.0),
            (Some(15.0), 0.0),
            (None, 0.0),
        ] {
            assert_eq!(recency_points(v), p, "recency {v:?}");
        }
        assert_eq!(engagement(7.0, Some(0.8), Some(31.0), Some(0.0)), 100.0);
        assert_eq!(engagement(0.0, None, None, None), 6.0);
        for (s, t) in [
            (100.0, "Highly engaged"),
            (80.0, "Highly engaged"),
            (79.0, "Engaged"),
            (60.0, "Engaged"),
            (59.0, "Moderate"),
            (40.0, "Moderate"),
            (39.0, "Low"),
            (20.0, "Low"),
            (19.0, "Disengaged"),
            (0.0, "Disengaged"),
        ] {
            assert_eq!(engagement_tier(s), t, "{s}");
        }
    }
}
