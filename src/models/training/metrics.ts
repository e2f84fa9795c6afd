/** Evaluation metrics of the trainer: AUC and log-loss for logistic models, RMSE, MAE and R² for linear ones. */

export interface ClassificationMetrics {
  rows: number;
  positiveRate: number | null;
  /** Area under the ROC curve (ties count half); null when only one class is present. */
  auc: number | null;
  /** Mean negative log-likelihood, probabilities clipped to [1e-15, 1 − 1e-15]. */
  logLoss: number | null;
  /** Share of rows where p ≥ 0.5 agrees with the label. */
  accuracy: number | null;
}

export interface RegressionMetrics {
  rows: number;
  rmse: number | null;
  mae: number | null;
  /** 1 − SSE/SST; null when the labels are constant. */
  r2: number | null;
}

export function classificationMetrics(p: ArrayLike<number>, y: ArrayLike<number>): ClassificationMetrics {
  const n = y.length;
  if (n === 0) return { rows: 0, positiveRate: null, auc: null, logLoss: null, accuracy: null };
  let pos = 0;
  let ll = 0;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const yi = y[i]!;
    const pi = Math.min(Math.max(p[i]!, 1e-15), 1 - 1e-15);
    pos += yi;
    ll -= yi * Math.log(pi) + (1 - yi) * Math.log(1 - pi);
    if ((p[i]! >= 0.5 ? 1 : 0) === yi) correct++;
  }
  return { rows: n, positiveRate: pos / n, auc: auc(p, y), logLoss: ll / n, accuracy: correct / n };
}

/** AUC by the rank-sum (Mann–Whitney) statistic with average ranks for tied scores. */
export function auc(score: ArrayLike<number>, y: ArrayLike<number>): number | null {
  const n = y.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => score[a]! - score[b]!);
  let nPos = 0;
  let rankSum = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && score[order[j + 1]!] === score[order[i]!]) j++;
    const avgRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (y[order[k]!] === 1) {
        nPos++;
        rankSum += avgRank;
      }
    }
    i = j + 1;
  }
  const nNeg = n - nPos;
  if (nPos === 0 || nNeg === 0) return null;
  return (rankSum - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

export function regressionMetrics(pred: ArrayLike<number>, y: ArrayLike<number>): RegressionMetrics {
  const n = y.length;
  if (n === 0) return { rows: 0, rmse: null, mae: null, r2: null };
  let sse = 0;
  let sae = 0;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += y[i]!;
  mean /= n;
  let sst = 0;
  for (let i = 0; i < n; i++) {
    const r = pred[i]! - y[i]!;
    sse += r * r;
    sae += Math.abs(r);
    sst += (y[i]! - mean) ** 2;
  }
  return { rows: n, rmse: Math.sqrt(sse / n), mae: sae / n, r2: sst === 0 ? null : 1 - sse / sst };
}
