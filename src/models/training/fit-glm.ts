import { LarderError } from "../../errors.js";

export interface FitOptions {
  /** L2 penalty λ on every coefficient but the intercept: minimise Σ loss_i + λ/2 ‖w‖². */
  l2: number;
  /** Stop when the largest Newton step is below this (default 1e-9). */
  tolerance?: number;
  maxIterations?: number;
}

export interface FitResult {
  /** Intercept first, then one coefficient per design-matrix column. */
  beta: Float64Array;
  iterations: number;
  converged: boolean;
  /** The largest |gradient| component of the penalised objective at the solution. */
  gradientNorm: number;
  /** Σ loss_i + λ/2 ‖w‖² at the solution. */
  objective: number;
}

/**
 * L2-regularised logistic regression by Newton's method (IRLS) with step halving: deterministic,
 * and quadratically convergent, so the solution is exact to the tolerance. With λ = 1 this is
 * scikit-learn's `LogisticRegression(C=1)` (whose penalty is also ½‖w‖² on the summed loss, the
 * intercept unpenalised). Cost per iteration O(n·d²), so it suits the tens to hundreds of columns
 * feature services have. `x` is row-major n × d with the intercept's 1 in column 0.
 */
export function fitLogistic(x: Float64Array, y: Float64Array, d: number, opts: FitOptions): FitResult {
  const n = y.length;
  const tol = opts.tolerance ?? 1e-9;
  const maxIter = opts.maxIterations ?? 100;
  const lambda = opts.l2;
  const beta = new Float64Array(d);
  // Start at the base rate: the intercept alone, which is where Newton converges fastest from.
  let pos = 0;
  for (let i = 0; i < n; i++) pos += y[i]!;
  const rate = Math.min(Math.max(pos / Math.max(n, 1), 1e-6), 1 - 1e-6);
  beta[0] = Math.log(rate / (1 - rate));
  let obj = logisticObjective(x, y, d, beta, lambda);
  const grad = new Float64Array(d);
  const hess = new Float64Array(d * d);
  let iterations = 0;
  let converged = false;
  for (; iterations < maxIter; iterations++) {
    grad.fill(0);
    hess.fill(0);
    for (let i = 0; i < n; i++) {
      const base = i * d;
      let z = 0;
      for (let j = 0; j < d; j++) z += x[base + j]! * beta[j]!;
      const p = sigmoid(z);
      const r = p - y[i]!;
      const w = p * (1 - p);
      for (let j = 0; j < d; j++) {
        const xj = x[base + j]!;
        if (xj === 0) continue;
        grad[j]! += r * xj;
        const wx = w * xj;
        const row = j * d;
        for (let k = j; k < d; k++) hess[row + k]! += wx * x[base + k]!;
      }
    }
    addPenalty(grad, hess, beta, d, lambda);
    const step = solveSymmetric(hess, grad, d);
    let t = 1;
    let next = new Float64Array(d);
    let nextObj = Number.POSITIVE_INFINITY;
    for (let halvings = 0; halvings < 40; halvings++) {
      for (let j = 0; j < d; j++) next[j] = beta[j]! - t * step[j]!;
      nextObj = logisticObjective(x, y, d, next, lambda);
      if (nextObj <= obj + 1e-12 * Math.abs(obj)) break;
      t /= 2;
    }
    let maxStep = 0;
    for (let j = 0; j < d; j++) maxStep = Math.max(maxStep, Math.abs(next[j]! - beta[j]!));
    beta.set(next);
    obj = nextObj;
    if (maxStep < tol) {
      converged = true;
      iterations++;
      break;
    }
    next = new Float64Array(d);
  }
  const g = logisticGradient(x, y, d, beta, lambda);
  return { beta, iterations, converged, gradientNorm: maxAbs(g), objective: obj };
}

/**
 * Ridge regression: minimise ½ Σ (y_i − x_i·β)² + λ/2 ‖w‖² (intercept unpenalised) by solving the
 * normal equations (XᵀX + λI′) β = Xᵀy with a Cholesky factorisation: exact in one step.
 */
export function fitRidge(x: Float64Array, y: Float64Array, d: number, opts: FitOptions): FitResult {
  const n = y.length;
  const lambda = opts.l2;
  const a = new Float64Array(d * d);
  const b = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const base = i * d;
    for (let j = 0; j < d; j++) {
      const xj = x[base + j]!;
      if (xj === 0) continue;
      b[j]! += xj * y[i]!;
      const row = j * d;
      for (let k = j; k < d; k++) a[row + k]! += xj * x[base + k]!;
    }
  }
  const zero = new Float64Array(d);
  addPenalty(new Float64Array(d), a, zero, d, lambda);
  const beta = solveSymmetric(a, b, d);
  const g = ridgeGradient(x, y, d, beta, lambda);
  let obj = 0;
  for (let i = 0; i < n; i++) {
    const r = dot(x, i * d, beta, d) - y[i]!;
    obj += 0.5 * r * r;
  }
  for (let j = 1; j < d; j++) obj += 0.5 * lambda * beta[j]! * beta[j]!;
  return { beta, iterations: 1, converged: true, gradientNorm: maxAbs(g), objective: obj };
}

export function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/** Gradient of the penalised logistic objective (exported for tests: it is zero at the optimum). */
export function logisticGradient(x: Float64Array, y: Float64Array, d: number, beta: Float64Array, lambda: number): Float64Array {
  const g = new Float64Array(d);
  for (let i = 0; i < y.length; i++) {
    const r = sigmoid(dot(x, i * d, beta, d)) - y[i]!;
    for (let j = 0; j < d; j++) g[j]! += r * x[i * d + j]!;
  }
  for (let j = 1; j < d; j++) g[j]! += lambda * beta[j]!;
  return g;
}

export function ridgeGradient(x: Float64Array, y: Float64Array, d: number, beta: Float64Array, lambda: number): Float64Array {
  const g = new Float64Array(d);
  for (let i = 0; i < y.length; i++) {
    const r = dot(x, i * d, beta, d) - y[i]!;
    for (let j = 0; j < d; j++) g[j]! += r * x[i * d + j]!;
  }
  for (let j = 1; j < d; j++) g[j]! += lambda * beta[j]!;
  return g;
}

function logisticObjective(x: Float64Array, y: Float64Array, d: number, beta: Float64Array, lambda: number): number {
  let obj = 0;
  for (let i = 0; i < y.length; i++) {
    const z = dot(x, i * d, beta, d);
    // log(1 + e^z) − y·z, computed without overflow.
    obj += (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z))) - y[i]! * z;
  }
  for (let j = 1; j < d; j++) obj += 0.5 * lambda * beta[j]! * beta[j]!;
  return obj;
}

function addPenalty(grad: Float64Array, hess: Float64Array, beta: Float64Array, d: number, lambda: number): void {
  // Upper triangle was accumulated; mirror it, then add λ on the diagonal (not the intercept's).
  for (let j = 0; j < d; j++) for (let k = j + 1; k < d; k++) hess[k * d + j] = hess[j * d + k]!;
  for (let j = 1; j < d; j++) {
    grad[j]! += lambda * beta[j]!;
    hess[j * d + j]! += lambda;
  }
}

/**
 * Solves A s = b for symmetric positive (semi)definite A by Cholesky. A column that is exactly
 * dependent (a one-hot level never seen with λ = 0, say) gets a tiny ridge (1e-10 of the diagonal's
 * scale) rather than failing; a matrix that is not positive definite even so is an error.
 */
function solveSymmetric(a: Float64Array, b: Float64Array, d: number): Float64Array {
  let scale = 0;
  for (let j = 0; j < d; j++) scale = Math.max(scale, Math.abs(a[j * d + j]!));
  const jitter = 1e-10 * Math.max(scale, 1);
  const l = new Float64Array(d * d);
  for (let j = 0; j < d; j++) {
    let s = a[j * d + j]!;
    for (let k = 0; k < j; k++) s -= l[j * d + k]! * l[j * d + k]!;
    if (s <= jitter) s += jitter;
    if (!(s > 0) || !Number.isFinite(s)) throw new LarderError("INVALID_ARGUMENT", "the training data gives a singular system; give an --l2 penalty above 0");
    const ljj = Math.sqrt(s);
    l[j * d + j] = ljj;
    for (let i = j + 1; i < d; i++) {
      let t = a[i * d + j]!;
      for (let k = 0; k < j; k++) t -= l[i * d + k]! * l[j * d + k]!;
      l[i * d + j] = t / ljj;
    }
  }
  const z = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let t = b[i]!;
    for (let k = 0; k < i; k++) t -= l[i * d + k]! * z[k]!;
    z[i] = t / l[i * d + i]!;
  }
  const s = new Float64Array(d);
  for (let i = d - 1; i >= 0; i--) {
    let t = z[i]!;
    for (let k = i + 1; k < d; k++) t -= l[k * d + i]! * s[k]!;
    s[i] = t / l[i * d + i]!;
  }
  return s;
}

export function dot(x: Float64Array, base: number, beta: Float64Array, d: number): number {
  let z = 0;
  for (let j = 0; j < d; j++) z += x[base + j]! * beta[j]!;
  return z;
}

function maxAbs(v: Float64Array): number {
  let m = 0;
  for (const x of v) m = Math.max(m, Math.abs(x));
  return m;
}
