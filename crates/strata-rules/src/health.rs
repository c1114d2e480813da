//! Segment-set health: sizes, shares, what each family leaves unassigned, how segments
//! outside families overlap, and the seed's anti-patterns (section 10) as warnings.

use crate::eval::{Operand, Program};
use serde::Serialize;

/// The health of one segment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentHealth {
    /// Its name.
    pub name: String,
    /// Its family, if any.
    pub family: Option<String>,
    /// Users in it.
    pub size: usize,
    /// `size / users`.
    pub share: f64,
    /// Its action, if any.
    pub action: Option<String>,
}

/// The health of one family.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FamilyHealth {
    /// Its name.
    pub family: String,
    /// Its segments.
    pub segments: usize,
    /// Users matching none of its segments.
    pub unassigned: usize,
    /// `unassigned / users`.
    pub unassigned_share: f64,
}

/// The whole report (`<segments>.health.json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    /// Users evaluated.
    pub users: usize,
    /// Every segment, in file order.
    pub segments: Vec<SegmentHealth>,
    /// Every family, in order of first appearance.
    pub families: Vec<FamilyHealth>,
    /// Names of the segments outside families, the rows and columns of `overlap`.
    pub overlap_segments: Vec<String>,
    /// `overlap[i][j]`: users in both segment i and segment j (the diagonal is the size).
    pub overlap: Vec<Vec<usize>>,
    /// The seed's anti-patterns found.
    pub warnings: Vec<String>,
}

/// Smallest segment worth acting on (seed section 10: "minimum 100-200 users").
pub const MIN_SEGMENT_USERS: usize = 100;
/// Most segments a family should have (seed section 10: "start with 4-6").
pub const MAX_FAMILY_SEGMENTS: usize = 8;

/// Computes the health of `program`'s segments from their membership: `members[s][u]`
/// is whether user `u` is in segment `s` (for a family segment: assigned to it).
pub fn health(program: &Program, members: &[Vec<bool>], users: usize) -> Health {
    let share = |c: usize| if users == 0 { 0.0 } else { c as f64 / users as f64 };
    let mut segments = Vec::new();
    let mut warnings = Vec::new();
    for (s, m) in program.segments.iter().zip(members) {
        let size = m.iter().filter(|b| **b).count();
        if size < MIN_SEGMENT_USERS {
            warnings.push(format!(
                "segment \"{}\" has {size} users, under {MIN_SEGMENT_USERS}: too small to act on (seed section 10)",
                s.name
            ));
        }
        if s.action.is_none() {
            warnings.push(format!(
                "segment \"{}\" has no action: every segment needs an action plan (seed section 10)",
                s.name
            ));
        }
        let ops: Vec<&Operand> =
            (0..program.operands.len()).filter(|i| s.cond.uses(*i)).map(|i| &program.operands[i]).collect();
        if !ops.is_empty()
            && ops
                .iter()
                .all(|o| matches!(o, Operand::User(a) if a != "days_since_signup") || matches!(o, Operand::UsagePct))
        {
            warnings.push(format!(
                "segment \"{}\" uses only profile attributes and no behaviour: combine them with behavioral data (seed section 10)",
                s.name
            ));
        }
        segments.push(SegmentHealth {
            name: s.name.clone(),
            family: s.family.clone(),
            size,
            share: share(size),
            action: s.action.clone(),
        });
    }
    let mut families: Vec<FamilyHealth> = Vec::new();
    for s in &program.segments {
        let Some(f) = &s.family else { continue };
        if families.iter().any(|x| &x.family == f) {
            continue;
        }
        let idx: Vec<usize> =
            program.segments.iter().enumerate().filter(|(_, t)| t.family.as_ref() == Some(f)).map(|(i, _)| i).collect();
        let unassigned =
            (0..users).filter(|u| idx.iter().all(|i| !members[*i].get(*u).copied().unwrap_or(false))).count();
        if idx.len() > MAX_FAMILY_SEGMENTS {
            warnings.push(format!(
                "family \"{f}\" has {} segments, more than {MAX_FAMILY_SEGMENTS}: over-segmenting (seed section 10)",
                idx.len()
            ));
        }
        families.push(FamilyHealth {
            family: f.clone(),
            segments: idx.len(),
            unassigned,
            unassigned_share: share(unassigned),
        });
    }
    let free: Vec<usize> =
        program.segments.iter().enumerate().filter(|(_, s)| s.family.is_none()).map(|(i, _)| i).collect();
    let overlap = free
        .iter()
        .map(|&i| free.iter().map(|&j| (0..users).filter(|&u| members[i][u] && members[j][u]).count()).collect())
        .collect();
    Health {
        users,
        segments,
        families,
        overlap_segments: free.iter().map(|&i| program.segments[i].name.clone()).collect(),
        overlap,
        warnings,
    }
}
