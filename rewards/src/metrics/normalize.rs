//! Similarity normalisations of solids used by the metrics.

use crate::geom::{Aabb, MassProps, Solid, V3, v3};

const IDENTITY: [V3; 3] = [v3(1.0, 0.0, 0.0), v3(0.0, 1.0, 0.0), v3(0.0, 0.0, 1.0)];

/// The centre of `bbox` and the scale that makes its longest side `side`; `None`
/// for an empty or degenerate box.
// `!(m > 1e-12)` is deliberate: a NaN extent must give `None`.
#[allow(clippy::neg_cmp_op_on_partial_ord)]
pub(crate) fn unit_box(bbox: &Aabb, side: f64) -> Option<(V3, f64)> {
    let e = bbox.extent();
    let m = e.x.max(e.y).max(e.z);
    if bbox.is_empty() || !(m > 1e-12) || !m.is_finite() {
        return None;
    }
    Some((bbox.center(), side / m))
}

/// Centre the bounding box at the origin and scale its longest side to `side`.
/// `None` for a degenerate box.
pub(crate) fn bbox_normalized(s: &Solid, props: &MassProps, side: f64) -> Option<Solid> {
    let (c, k) = unit_box(&props.bbox, side)?;
    Some(s.transformed(k, IDENTITY, c))
}

/// Eigen-decomposition of a symmetric 3x3 matrix (cyclic Jacobi). Returns
/// eigenvalues ascending and the matching unit eigenvectors as columns, with the
/// vectors signed so that the basis is right-handed.
// The Jacobi rotation is written index-wise, as in its formulas (a `k` loop touches rows p and q).
#[allow(clippy::needless_range_loop)]
pub(crate) fn sym_eigen(m: [[f64; 3]; 3]) -> ([f64; 3], [[f64; 3]; 3]) {
    let mut a = m;
    let mut v = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    for _ in 0..64 {
        let off = a[0][1].abs() + a[0][2].abs() + a[1][2].abs();
        if off < 1e-300 {
            break;
        }
        for (p, q) in [(0, 1), (0, 2), (1, 2)] {
            if a[p][q].abs() < 1e-300 {
                continue;
            }
            let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
            let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
            let t = if theta == 0.0 { 1.0 } else { t };
            let c = 1.0 / (t * t + 1.0).sqrt();
            let s = t * c;
            for k in 0..3 {
                let (akp, akq) = (a[k][p], a[k][q]);
                a[k][p] = c * akp - s * akq;
                a[k][q] = s * akp + c * akq;
            }
            for k in 0..3 {
                let (apk, aqk) = (a[p][k], a[q][k]);
                a[p][k] = c * apk - s * aqk;
                a[q][k] = s * apk + c * aqk;
            }
            for k in 0..3 {
                let (vkp, vkq) = (v[k][p], v[k][q]);
                v[k][p] = c * vkp - s * vkq;
                v[k][q] = s * vkp + c * vkq;
            }
        }
    }
    let mut idx = [0usize, 1, 2];
    idx.sort_by(|&i, &j| a[i][i].total_cmp(&a[j][j]));
    let vals = [a[idx[0]][idx[0]], a[idx[1]][idx[1]], a[idx[2]][idx[2]]];
    let mut vecs = [[0.0; 3]; 3];
    for (c, &i) in idx.iter().enumerate() {
        for r in 0..3 {
            vecs[r][c] = v[r][i];
        }
    }
    // right-handed: flip the last column if det < 0
    let col = |c: usize| v3(vecs[0][c], vecs[1][c], vecs[2][c]);
    if col(0).cross(col(1)).dot(col(2)) < 0.0 {
        for row in &mut vecs {
            row[2] = -row[2];
        }
    }
    (vals, vecs)
}

/// Principal frame of a solid as CAD-Coder defines it: centre of mass `c`, the
/// eigenvectors of the inertia tensor (ascending eigenvalues) as columns of `e`,
/// and the scale `s = sqrt(sum |lambda| / V)`.
pub(crate) struct Principal {
    pub(crate) c: V3,
    pub(crate) e: [[f64; 3]; 3],
    pub(crate) s: f64,
}

pub(crate) fn principal(props: &MassProps) -> Option<Principal> {
    let c = props.covariance;
    let tr = c[0][0] + c[1][1] + c[2][2];
    // inertia tensor about the centroid: I = tr(C) Id - C
    let mut inertia = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            inertia[i][j] = if i == j { tr } else { 0.0 } - c[i][j];
        }
    }
    let (vals, e) = sym_eigen(inertia);
    let s = (vals.iter().map(|l| l.abs()).sum::<f64>() / props.volume).sqrt();
    (s > 0.0 && s.is_finite()).then_some(Principal { c: props.centroid, e, s })
}

/// Rows of `E_t D E_s^T` for the sign pattern `d`.
pub(crate) fn align_rotation(src: &Principal, tgt: &Principal, d: [f64; 3]) -> [V3; 3] {
    let mut r = [[0.0; 3]; 3];
    for (i, row) in r.iter_mut().enumerate() {
        for (j, x) in row.iter_mut().enumerate() {
            *x = (0..3).map(|k| tgt.e[i][k] * d[k] * src.e[j][k]).sum();
        }
    }
    [v3(r[0][0], r[0][1], r[0][2]), v3(r[1][0], r[1][1], r[1][2]), v3(r[2][0], r[2][1], r[2][2])]
}

pub(crate) const IDENTITY_ROWS: [V3; 3] = IDENTITY;
