//! The planted personas and how each behaves (seed sections 2.1, 2.4, 3).

use crate::{normal, poisson, Ev, GenParams, UserOut, END_MICROS, EVENTS, FEATURES, NO_FEATURE};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use strata_core::MICROS_PER_DAY;

/// A planted behaviour pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Persona {
    /// Near-daily use, broad feature adoption, long sessions.
    Power,
    /// A few sessions a week, middling breadth.
    Regular,
    /// About one session a week or less, narrow use.
    Casual,
    /// Used to be regular; sessions dropped sharply relative to their own baseline
    /// in the last two or three weeks, with support tickets and cancel-page views.
    Declining,
    /// Active earlier (3+ sessions), nothing for the last 35 to 80 days.
    Dormant,
    /// Signed up recently; short sessions, pricing and docs views, locked-feature clicks.
    Evaluator,
    /// Regular use plus invites, shared content and team activity.
    TeamChampion,
    /// Signed up and never came back: no events at all.
    NeverActive,
}

impl Persona {
    /// The name written to `personas.parquet`.
    pub fn name(self) -> &'static str {
        match self {
            Persona::Power => "power",
            Persona::Regular => "regular",
            Persona::Casual => "casual",
            Persona::Declining => "declining",
            Persona::Dormant => "dormant",
            Persona::Evaluator => "evaluator",
            Persona::TeamChampion => "team_champion",
            Persona::NeverActive => "never_active",
        }
    }

    fn pick(rng: &mut StdRng) -> Persona {
        let x: f64 = rng.gen();
        match x {
            x if x < 0.10 => Persona::Power,
            x if x < 0.34 => Persona::Regular,
            x if x < 0.58 => Persona::Casual,
            x if x < 0.70 => Persona::Declining,
            x if x < 0.80 => Persona::Dormant,
            x if x < 0.89 => Persona::Evaluator,
            x if x < 0.97 => Persona::TeamChampion,
            _ => Persona::NeverActive,
        }
    }
}

fn ev(name: &str) -> u8 {
    EVENTS.iter().position(|e| *e == name).unwrap_or(1) as u8
}

const ROLES: [&str; 4] = ["designer", "developer", "manager", "unknown"];
const INDUSTRIES: [&str; 5] = ["software", "finance", "healthcare", "education", "retail"];
const COUNTRIES: [&str; 6] = ["US", "DE", "GB", "FR", "IN", "BR"];

pub(crate) fn make_user(p: GenParams, i: usize, width: usize, rng: &mut StdRng) -> UserOut {
    let persona = Persona::pick(rng);
    let start = END_MICROS - i64::from(p.days) * MICROS_PER_DAY;
    let day = MICROS_PER_DAY as f64;
    let span = (END_MICROS - start) as f64;
    // Signups: evaluators recently, power users and champions mostly long ago.
    let signup = match persona {
        Persona::Evaluator => END_MICROS - (rng.gen_range(1.0..21.0) * day) as i64,
        Persona::Power | Persona::TeamChampion => start - (rng.gen_range(-0.3..1.0) * 120.0 * day) as i64,
        Persona::Dormant => start - (rng.gen_range(0.0..1.0) * 90.0 * day) as i64,
        _ => start + (rng.gen_range(-0.5..0.8) * span) as i64,
    };
    let plan = match persona {
        Persona::Power => *["pro", "enterprise", "pro"].choose(rng).unwrap_or(&"pro"),
        Persona::TeamChampion => *["pro", "basic"].choose(rng).unwrap_or(&"pro"),
        Persona::Regular | Persona::Declining => *["basic", "free", "pro"].choose(rng).unwrap_or(&"basic"),
        Persona::Evaluator => "trial",
        _ => *["free", "free", "basic"].choose(rng).unwrap_or(&"free"),
    };
    // Heavy tail: each user's rate is scaled by a log-normal factor.
    let tail = (0.35 * normal(rng)).exp();
    let weekly = tail
        * match persona {
            Persona::Power => rng.gen_range(8.0..14.0),
            Persona::Regular => rng.gen_range(2.0..4.0),
            Persona::Casual => rng.gen_range(0.5..1.2),
            Persona::Declining => rng.gen_range(3.0..6.0),
            Persona::Dormant => rng.gen_range(2.0..4.0),
            Persona::Evaluator => rng.gen_range(3.0..5.0),
            Persona::TeamChampion => rng.gen_range(3.0..6.0),
            Persona::NeverActive => 0.0,
        };
    let minutes = match persona {
        Persona::Power => rng.gen_range(25.0..45.0),
        Persona::Regular | Persona::TeamChampion => rng.gen_range(10.0..22.0),
        Persona::Casual => rng.gen_range(4.0..10.0),
        Persona::Declining | Persona::Dormant => rng.gen_range(8.0..18.0),
        Persona::Evaluator => rng.gen_range(2.0..5.0),
        Persona::NeverActive => 0.0,
    };
    let breadth = match persona {
        Persona::Power => rng.gen_range(9..=12),
        Persona::Regular | Persona::TeamChampion => rng.gen_range(4..=8),
        Persona::Declining => rng.gen_range(4..=7),
        Persona::Casual => rng.gen_range(1..=3),
        Persona::Dormant => rng.gen_range(2..=4),
        Persona::Evaluator => rng.gen_range(2..=4),
        Persona::NeverActive => 0,
    };
    let mut feats: Vec<u8> = (0..FEATURES.len() as u8).collect();
    feats.shuffle(rng);
    feats.truncate(breadth);
    // Declining users drop to 15% of their rate in the last 10-21 days; dormant users stop.
    let drop_at = END_MICROS - (rng.gen_range(10.0..21.0) * day) as i64;
    let stop_at = END_MICROS - (rng.gen_range(35.0..80.0) * day) as i64;
    let account_size = if persona == Persona::TeamChampion { 12 } else { 4 };
    let account = format!("a{:0w$}", i / account_size, w = width);
    let mut events: Vec<Ev> = Vec::new();
    let first_day = signup.max(start);
    let mut d = first_day - first_day.rem_euclid(MICROS_PER_DAY);
    let mut milestones_done = 0usize;
    let milestone_events =
        ["project_created", "task_added", "template_used", "integration_connected", "task_completed"];
    let n_milestones = match persona {
        Persona::Power | Persona::TeamChampion => 5,
        Persona::Regular | Persona::Declining => rng.gen_range(2..=5),
        Persona::Evaluator => rng.gen_range(1..=3),
        _ => rng.gen_range(0..=2),
    };
    while d < END_MICROS && persona != Persona::NeverActive {
        let mut rate = weekly / 7.0;
        if persona == Persona::Declining && d >= drop_at {
            rate *= 0.15;
        }
        if persona == Persona::Dormant && d >= stop_at {
            break;
        }
        // Weekends are quieter.
        let dow = (d / MICROS_PER_DAY + 3).rem_euclid(7);
        if dow >= 5 {
            rate *= 0.5;
        }
        for _ in 0..poisson(rng, rate) {
            let hour = (9.0 + 3.0 * normal(rng)).clamp(0.0, 23.5);
            let s0 = d + (hour * 3600e6) as i64;
            if s0 <= signup || s0 > END_MICROS {
                continue;
            }
            let len_min = (minutes * (0.5 * normal(rng)).exp()).max(0.5);
            let n = 1 + poisson(rng, len_min / 3.0) as usize;
            let step = (len_min * 60e6 / n as f64) as i64;
            let mut t = s0;
            events.push(Ev { ts: t, event: ev("session_start"), feature: NO_FEATURE, revenue: 0.0, null_user: false });
            for k in 0..n {
                t += (step as f64 * rng.gen_range(0.5..1.5)) as i64;
                if t > END_MICROS {
                    break;
                }
                let (name, feature) = pick_event(persona, rng, &feats);
                let name = if milestones_done < n_milestones && k == 0 {
                    milestones_done += 1;
                    milestone_events[milestones_done - 1]
                } else {
                    name
                };
                let null_user = rng.gen::<f64>() < 0.0002;
                events.push(Ev { ts: t, event: ev(name), feature, revenue: 0.0, null_user });
                // Client retries: a few events arrive twice.
                if rng.gen::<f64>() < 0.001 {
                    events.push(Ev { ts: t, event: ev(name), feature, revenue: 0.0, null_user });
                }
            }
        }
        d += MICROS_PER_DAY;
    }
    // Monthly payments for paid plans, in the user's active span.
    let price = match plan {
        "basic" => 12.0,
        "pro" => 39.0,
        "enterprise" => 199.0,
        _ => 0.0,
    };
    if price > 0.0 {
        let mut t = signup.max(start) + 3 * MICROS_PER_DAY;
        let last = events.last().map_or(signup, |e| e.ts);
        while t <= END_MICROS && t <= last + 30 * MICROS_PER_DAY {
            let failed = rng.gen::<f64>() < if persona == Persona::Declining { 0.15 } else { 0.02 };
            let name = if failed { "payment_failed" } else { "payment_succeeded" };
            events.push(Ev {
                ts: t,
                event: ev(name),
                feature: NO_FEATURE,
                revenue: if failed { 0.0 } else { price },
                null_user: false,
            });
            t += 30 * MICROS_PER_DAY;
        }
    }
    if persona == Persona::Declining && rng.gen::<f64>() < 0.3 {
        let t = drop_at + (rng.gen_range(0.0..8.0) * day) as i64;
        if t <= END_MICROS {
            events.push(Ev {
                ts: t,
                event: ev("plan_downgraded"),
                feature: NO_FEATURE,
                revenue: 0.0,
                null_user: false,
            });
        }
    }
    events.sort_by_key(|e| e.ts);
    let company_size = match persona {
        Persona::TeamChampion | Persona::Power => rng.gen_range(50..2000),
        _ => rng.gen_range(1..500),
    };
    UserOut {
        id: format!("u{:0w$}", i, w = width),
        persona,
        signup,
        plan,
        role: ROLES.choose(rng).copied().unwrap_or("unknown"),
        industry: INDUSTRIES.choose(rng).copied().unwrap_or("software"),
        country: COUNTRIES.choose(rng).copied().unwrap_or("US"),
        company_size,
        seats: if plan == "free" || plan == "trial" { 1 } else { rng.gen_range(1..25) },
        usage_pct: match persona {
            Persona::Power => rng.gen_range(0.6..1.0),
            Persona::TeamChampion => rng.gen_range(0.5..0.95),
            _ => rng.gen_range(0.0..0.6),
        },
        account,
        events,
    }
}

fn pick_event(persona: Persona, rng: &mut StdRng, feats: &[u8]) -> (&'static str, u8) {
    let x: f64 = rng.gen();
    let signal = |name: &'static str| (name, NO_FEATURE);
    match persona {
        Persona::Evaluator if x < 0.10 => return signal("pricing_page_view"),
        Persona::Evaluator if x < 0.20 => return signal("docs_view"),
        Persona::Evaluator if x < 0.24 => return signal("locked_feature_click"),
        Persona::Evaluator if x < 0.25 => return signal("sales_contact"),
        Persona::TeamChampion if x < 0.05 => return signal("invite_sent"),
        Persona::TeamChampion if x < 0.12 => return signal("content_shared"),
        Persona::TeamChampion if x < 0.20 => return signal("content_created"),
        Persona::Power if x < 0.03 => return signal("locked_feature_click"),
        Persona::Power if x < 0.06 => return signal("content_created"),
        Persona::Power if x < 0.065 => return signal("pricing_page_view"),
        Persona::Declining if x < 0.02 => return signal("support_ticket"),
        Persona::Declining if x < 0.03 => return signal("cancel_page_view"),
        Persona::Regular if x < 0.02 => return signal("content_created"),
        Persona::Regular if x < 0.025 => return signal("pricing_page_view"),
        _ => {}
    }
    if x < 0.35 || feats.is_empty() {
        return signal("page_view");
    }
    let i = rng.gen_range(0..feats.len());
    ("feature_used", feats[i])
}
