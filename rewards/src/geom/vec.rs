//! Small fixed-size vector types and the orthonormal frame of a sketch plane.

use std::ops::{Add, Index, IndexMut, Mul, Neg, Sub};

/// A point or direction in 3D (world or local coordinates).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct V3 {
    /// x coordinate.
    pub x: f64,
    /// y coordinate.
    pub y: f64,
    /// z coordinate (up in the renders).
    pub z: f64,
}

/// A point or direction in a sketch plane.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct P2 {
    /// Coordinate along the plane's x direction.
    pub x: f64,
    /// Coordinate along the plane's y direction.
    pub y: f64,
}

/// `V3 { x, y, z }`.
pub const fn v3(x: f64, y: f64, z: f64) -> V3 {
    V3 { x, y, z }
}

/// `P2 { x, y }`.
pub const fn p2(x: f64, y: f64) -> P2 {
    P2 { x, y }
}

impl V3 {
    /// Dot product.
    pub fn dot(self, o: V3) -> f64 {
        self.x * o.x + self.y * o.y + self.z * o.z
    }
    /// Cross product `self x o`.
    pub fn cross(self, o: V3) -> V3 {
        v3(self.y * o.z - self.z * o.y, self.z * o.x - self.x * o.z, self.x * o.y - self.y * o.x)
    }
    /// Euclidean length.
    pub fn norm(self) -> f64 {
        self.dot(self).sqrt()
    }
    /// Unit vector, or `None` for a (near) zero vector.
    pub fn normalized(self) -> Option<V3> {
        let n = self.norm();
        (n > 1e-300 && n.is_finite()).then(|| self * (1.0 / n))
    }
    /// Component by axis: 0 = x, 1 = y, anything else = z.
    pub fn get(self, axis: usize) -> f64 {
        match axis {
            0 => self.x,
            1 => self.y,
            _ => self.z,
        }
    }
    /// Whether every component is finite.
    pub fn is_finite(self) -> bool {
        self.x.is_finite() && self.y.is_finite() && self.z.is_finite()
    }
    /// Component-wise minimum.
    pub fn min(self, o: V3) -> V3 {
        v3(self.x.min(o.x), self.y.min(o.y), self.z.min(o.z))
    }
    /// Component-wise maximum.
    pub fn max(self, o: V3) -> V3 {
        v3(self.x.max(o.x), self.y.max(o.y), self.z.max(o.z))
    }
}

/// Component by axis (0 = x, 1 = y, 2 = z), for code that loops over axes.
impl Index<usize> for V3 {
    type Output = f64;
    fn index(&self, axis: usize) -> &f64 {
        match axis {
            0 => &self.x,
            1 => &self.y,
            2 => &self.z,
            _ => panic!("V3 has no axis {axis}"),
        }
    }
}
impl IndexMut<usize> for V3 {
    fn index_mut(&mut self, axis: usize) -> &mut f64 {
        match axis {
            0 => &mut self.x,
            1 => &mut self.y,
            2 => &mut self.z,
            _ => panic!("V3 has no axis {axis}"),
        }
    }
}

impl Add for V3 {
    type Output = V3;
    fn add(self, o: V3) -> V3 {
        v3(self.x + o.x, self.y + o.y, self.z + o.z)
    }
}
impl Sub for V3 {
    type Output = V3;
    fn sub(self, o: V3) -> V3 {
        v3(self.x - o.x, self.y - o.y, self.z - o.z)
    }
}
impl Mul<f64> for V3 {
    type Output = V3;
    fn mul(self, s: f64) -> V3 {
        v3(self.x * s, self.y * s, self.z * s)
    }
}
impl Neg for V3 {
    type Output = V3;
    fn neg(self) -> V3 {
        v3(-self.x, -self.y, -self.z)
    }
}

impl P2 {
    /// Dot product.
    pub fn dot(self, o: P2) -> f64 {
        self.x * o.x + self.y * o.y
    }
    /// z component of the 3D cross product.
    pub fn cross(self, o: P2) -> f64 {
        self.x * o.y - self.y * o.x
    }
    /// Euclidean length.
    pub fn norm(self) -> f64 {
        self.dot(self).sqrt()
    }
    /// Distance to `o`.
    pub fn dist(self, o: P2) -> f64 {
        (self - o).norm()
    }
}
/// Component by axis (0 = x, 1 = y).
impl Index<usize> for P2 {
    type Output = f64;
    fn index(&self, axis: usize) -> &f64 {
        match axis {
            0 => &self.x,
            1 => &self.y,
            _ => panic!("P2 has no axis {axis}"),
        }
    }
}
impl IndexMut<usize> for P2 {
    fn index_mut(&mut self, axis: usize) -> &mut f64 {
        match axis {
            0 => &mut self.x,
            1 => &mut self.y,
            _ => panic!("P2 has no axis {axis}"),
        }
    }
}

impl Add for P2 {
    type Output = P2;
    fn add(self, o: P2) -> P2 {
        p2(self.x + o.x, self.y + o.y)
    }
}
impl Sub for P2 {
    type Output = P2;
    fn sub(self, o: P2) -> P2 {
        p2(self.x - o.x, self.y - o.y)
    }
}
impl Mul<f64> for P2 {
    type Output = P2;
    fn mul(self, s: f64) -> P2 {
        p2(self.x * s, self.y * s)
    }
}

/// Axis-aligned bounding box.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Aabb {
    /// Lowest corner (`+inf` everywhere when empty).
    pub min: V3,
    /// Highest corner (`-inf` everywhere when empty).
    pub max: V3,
}

impl Aabb {
    /// The empty box (`min > max`): the identity of [`Aabb::union`] and [`Aabb::add_point`].
    pub const EMPTY: Aabb = Aabb {
        min: v3(f64::INFINITY, f64::INFINITY, f64::INFINITY),
        max: v3(f64::NEG_INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY),
    };
    /// Grow the box to hold `p`.
    pub fn add_point(&mut self, p: V3) {
        self.min = self.min.min(p);
        self.max = self.max.max(p);
    }
    /// Smallest box holding both.
    pub fn union(self, o: Aabb) -> Aabb {
        Aabb { min: self.min.min(o.min), max: self.max.max(o.max) }
    }
    /// Common part of both (empty if they do not meet).
    pub fn intersect(self, o: Aabb) -> Aabb {
        Aabb { min: self.min.max(o.min), max: self.max.min(o.max) }
    }
    /// Whether the box holds no point (`min > max` on some axis).
    pub fn is_empty(&self) -> bool {
        self.min.x > self.max.x || self.min.y > self.max.y || self.min.z > self.max.z
    }
    /// Centre point.
    pub fn center(&self) -> V3 {
        (self.min + self.max) * 0.5
    }
    /// Side lengths along x, y and z.
    pub fn extent(&self) -> V3 {
        self.max - self.min
    }
    /// Length of the diagonal.
    pub fn diagonal(&self) -> f64 {
        self.extent().norm()
    }
}

/// A right-handed orthonormal frame: world = origin + u*x + v*y + w*z.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Frame {
    pub(crate) origin: V3,
    pub(crate) x: V3,
    pub(crate) y: V3,
    pub(crate) z: V3,
}

impl Frame {
    /// CadQuery's plane construction: `z` is the normalised normal, `x` is `x_dir`
    /// made perpendicular to it (as OCCT's `gp_Ax3` does), `y = z x x`.
    /// Returns `None` when the normal is zero or parallel to `x_dir`.
    pub(crate) fn from_origin_x_normal(origin: V3, x_dir: V3, normal: V3) -> Option<Frame> {
        let z = normal.normalized()?;
        let xd = x_dir.normalized()?;
        // gp_Ax3(P, N, Vx): XDir = N ^ (Vx ^ N)
        let x = z.cross(xd.cross(z)).normalized()?;
        if xd.cross(z).norm() <= 1e-12 {
            return None;
        }
        let y = z.cross(x);
        Some(Frame { origin, x, y, z })
    }
    pub(crate) fn to_world(self, u: f64, v: f64, w: f64) -> V3 {
        self.origin + self.x * u + self.y * v + self.z * w
    }
    pub(crate) fn to_local(self, p: V3) -> V3 {
        let d = p - self.origin;
        v3(d.dot(self.x), d.dot(self.y), d.dot(self.z))
    }
    pub(crate) fn dir_to_local(&self, d: V3) -> V3 {
        v3(d.dot(self.x), d.dot(self.y), d.dot(self.z))
    }
}
