# Reference values for tests/test_survival_km.py.
# Run from the repository root: Rscript tests/r/survival_km.R
# Writes tests/r/survival_km_curves.csv and tests/r/survival_km_rmst.csv.
suppressPackageStartupMessages(library(survival))
d <- read.csv("tests/fixtures/survival_km.csv")
curves <- list()
rm_rows <- list()
add <- function(name, fit, tau = 30) {
  curves[[name]] <<- data.frame(
    variant = name, time = fit$time, n_risk = fit$n.risk, n_event = fit$n.event,
    n_censor = fit$n.censor, surv = fit$surv,
    # se of S (summary.survfit's std.err); fit$std.err is on the log scale when logse
    se_surv = if (isTRUE(fit$logse)) fit$surv * fit$std.err else fit$std.err,
    lower = fit$lower, upper = fit$upper)
  tab <- summary(fit, rmean = tau)$table
  rm_rows[[name]] <<- data.frame(variant = name, tau = tau, rmean = tab[["rmean"]],
                                 se_rmean = tab[["se(rmean)"]])
}
# unweighted, the three confidence types
add("plain", survfit(Surv(time, status) ~ 1, data = d, conf.type = "plain"))
add("log", survfit(Surv(time, status) ~ 1, data = d, conf.type = "log"))
add("loglog", survfit(Surv(time, status) ~ 1, data = d, conf.type = "log-log"))
add("loglog90", survfit(Surv(time, status) ~ 1, data = d, conf.type = "log-log", conf.int = 0.9))
# per group
add("programme", survfit(Surv(time, status) ~ 1, data = d[d$group == "programme", ], conf.type = "log-log"))
add("comparison", survfit(Surv(time, status) ~ 1, data = d[d$group == "comparison", ], conf.type = "log-log"))
# case weights (survfit weights=). With non-integer weights R's default is the
# infinitesimal-jackknife (robust) variance; robust = FALSE gives the weighted
# Greenwood variance that KaplanMeier computes.
add("weighted", survfit(Surv(time, status) ~ 1, data = d, weights = weight, conf.type = "log-log",
                        robust = FALSE))
# left truncation (entry, time]
add("entry", survfit(Surv(entry, time, status) ~ 1, data = d, conf.type = "log-log"))
# robust (infinitesimal jackknife) variance; RMST se from the influence matrix:
# influence of each row (cluster) on RMST = sum_j (t_{j+1} - t_j) * influence.surv[, j]
d$pair <- rep(1:40, 2)
d$row <- seq_len(nrow(d))  # (entry, time] data need an explicit cluster: one per row
robust_rmst <- list()
add_robust <- function(name, fit, tau = 30) {
  add(name, fit, tau)
  keep <- fit$time <= tau
  widths <- diff(c(fit$time[keep], tau))
  infl <- fit$influence.surv[, keep, drop = FALSE] %*% widths
  robust_rmst[[name]] <<- data.frame(variant = name, tau = tau,
                                     rmean = rm_rows[[name]]$rmean, se_rmean = sqrt(sum(infl^2)))
}
add_robust("weighted_robust", survfit(Surv(time, status) ~ 1, data = d, weights = weight,
                                      robust = TRUE, influence = TRUE, conf.type = "log-log"))
add_robust("entry_weighted_robust", survfit(Surv(entry, time, status) ~ 1, data = d,
                                            weights = weight, cluster = row, robust = TRUE,
                                            influence = TRUE,
                                            conf.type = "log-log"))
add_robust("cluster_robust", survfit(Surv(time, status) ~ 1, data = d, cluster = pair,
                                     robust = TRUE, influence = TRUE, conf.type = "log-log"))
add_robust("weighted_cluster_robust", survfit(Surv(time, status) ~ 1, data = d,
                                              weights = weight, cluster = pair, robust = TRUE,
                                              influence = TRUE, conf.type = "log"))
# RMST difference with matched pairs spanning the groups (pair i = row i in the
# programme group and row 40 + i in the comparison group): per-pair influence
# of each group's RMST, var(diff) = sum over pairs of (infl_programme - infl_comparison)^2
rmst_infl <- function(fit, tau = 30) {
  keep <- fit$time <= tau
  drop(fit$influence.surv[, keep, drop = FALSE] %*% diff(c(fit$time[keep], tau)))
}
p1 <- d[d$group == "programme", ]
p0 <- d[d$group == "comparison", ]
f1 <- survfit(Surv(time, status) ~ 1, data = p1, weights = weight, cluster = pair,
              robust = TRUE, influence = TRUE)
f0 <- survfit(Surv(time, status) ~ 1, data = p0, weights = weight, cluster = pair,
              robust = TRUE, influence = TRUE)
i1 <- rmst_infl(f1)
i0 <- rmst_infl(f0)
stopifnot(all(names(i1) == names(i0)))  # rows named by pair, same order
robust_rmst[["pair_difference"]] <- data.frame(
  variant = "pair_difference", tau = 30,
  rmean = summary(f1, rmean = 30)$table[["rmean"]] - summary(f0, rmean = 30)$table[["rmean"]],
  se_rmean = sqrt(sum((i1 - i0)^2)))
write.csv(do.call(rbind, curves), "tests/r/survival_km_curves.csv", row.names = FALSE)
write.csv(do.call(rbind, robust_rmst), "tests/r/survival_km_rmst_robust.csv", row.names = FALSE)
out <- do.call(rbind, rm_rows[!grepl("robust", names(rm_rows))])
# RMST at a tau that is an event time, and beyond the last time
f <- survfit(Surv(time, status) ~ 1, data = d)
for (tau in c(10, 60)) {
  tab <- summary(f, rmean = tau)$table
  out <- rbind(out, data.frame(variant = paste0("loglog_tau", tau), tau = tau,
                               rmean = tab[["rmean"]], se_rmean = tab[["se(rmean)"]]))
}
write.csv(out, "tests/r/survival_km_rmst.csv", row.names = FALSE)
cat(R.version.string, " survival", as.character(packageVersion("survival")), "\n")
