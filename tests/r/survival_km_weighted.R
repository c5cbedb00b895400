# Reference values for tests/test_km_weighted_robust.py (issue 17, items 5 and 13).
# Run from the repository root: Rscript tests/r/survival_km_weighted.R > tests/r/survival_km_weighted.Rout
# Writes the fixture tests/fixtures/survival_km_weighted.csv (made here with a fixed seed) and
# tests/r/survival_km_weighted.csv: robust (infinitesimal-jackknife) Kaplan-Meier S(t) and its SE
# per group, and the SE of the difference S_programme(t) - S_comparison(t), with weights and
#   cluster "row"    each row its own cluster (IPW, persons appear once),
#   cluster "set"    matched sets of 1 programme + 1-2 comparison rows (matching without replacement),
#   cluster "person" a comparison person can sit in several sets (matching with replacement).
suppressPackageStartupMessages(library(survival))
set.seed(1717)
n_set <- 30
size <- sample(1:2, n_set, replace = TRUE)        # comparison rows per set
set <- c(seq_len(n_set), rep(seq_len(n_set), size))
group <- c(rep("programme", n_set), rep("comparison", sum(size)))
n <- length(set)
pool <- 25                                          # comparison persons, drawn with replacement
person <- c(paste0("p", seq_len(n_set)), paste0("c", sample(seq_len(pool), sum(size), replace = TRUE)))
# a comparison person has one outcome wherever they appear
ctime <- round(rexp(pool, 1 / 30)) + 1
cstat <- rbinom(pool, 1, 0.7)
cw <- round(exp(rnorm(pool, 0, 0.6)), 4)            # IPW-like odds weights, not integers
idx <- as.integer(sub("c", "", person[group == "comparison"]))
time <- c(round(rexp(n_set, 1 / 40)) + 1, ctime[idx])
status <- c(rbinom(n_set, 1, 0.6), cstat[idx])
w <- c(rep(1, n_set), cw[idx] / ave(rep(1, sum(size)), set[group == "comparison"], FUN = sum))
d <- data.frame(row = seq_len(n), set = set, person = person, group = group, time = time,
                status = status, w = round(w, 6))
write.csv(d, "tests/fixtures/survival_km_weighted.csv", row.names = FALSE)

times <- c(5, 12, 20, 35, 50)
fit1 <- function(sub, cl, scale = 1) {
  survfit(Surv(time, status) ~ 1, data = sub, weights = w * scale, cluster = sub[[cl]],
          robust = TRUE, influence = TRUE)
}
# influence of each cluster on S(t) at the requested times (rows named by cluster)
infl_at <- function(fit, t) {
  j <- findInterval(t, fit$time)
  out <- matrix(0, nrow(fit$influence.surv), length(t), dimnames = list(rownames(fit$influence.surv), NULL))
  out[, j > 0] <- fit$influence.surv[, j[j > 0], drop = FALSE]
  out
}
rows <- list()
for (cl in c("row", "set", "person")) {
  f <- list()
  for (g in c("programme", "comparison")) {
    sub <- d[d$group == g, ]
    f[[g]] <- fit1(sub, cl)
    s <- summary(f[[g]], times = times, extend = TRUE)
    # the same fit with weights x4: the robust SE must not move
    s4 <- summary(fit1(sub, cl, 4), times = times, extend = TRUE)
    stopifnot(all(abs(s4$std.err - s$std.err) < 1e-12))
    # our check of the influence matrix: its column sums of squares give R's std.err
    i <- infl_at(f[[g]], times)
    stopifnot(all(abs(sqrt(colSums(i^2)) - s$std.err) < 1e-10))
    rows[[paste(cl, g)]] <- data.frame(cluster = cl, group = g, time = times, surv = s$surv,
                                       se_surv = s$std.err, lower = s$lower, upper = s$upper)
  }
  i1 <- infl_at(f$programme, times)
  i0 <- infl_at(f$comparison, times)
  ids <- union(rownames(i1), rownames(i0))
  if (cl == "row") ids <- NULL  # rows differ between the groups: independent
  pad <- function(m, ids) {
    out <- matrix(0, length(ids), ncol(m), dimnames = list(ids, NULL))
    out[rownames(m), ] <- m
    out
  }
  if (is.null(ids)) {
    v <- colSums(i1^2) + colSums(i0^2)
  } else {
    v <- colSums((pad(i1, ids) - pad(i0, ids))^2)
  }
  s1 <- summary(f$programme, times = times, extend = TRUE)$surv
  s0 <- summary(f$comparison, times = times, extend = TRUE)$surv
  rows[[paste(cl, "difference")]] <- data.frame(cluster = cl, group = "difference", time = times,
                                                surv = s1 - s0, se_surv = sqrt(v),
                                                lower = NA, upper = NA)
}
out <- do.call(rbind, rows)
write.csv(out, "tests/r/survival_km_weighted.csv", row.names = FALSE)
print(out, digits = 10)
cat(R.version.string, " survival", as.character(packageVersion("survival")), "\n")
