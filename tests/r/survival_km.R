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
    se_surv = fit$surv * fit$std.err,  # summary.survfit's std.err (se of S)
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
write.csv(do.call(rbind, curves), "tests/r/survival_km_curves.csv", row.names = FALSE)
out <- do.call(rbind, rm_rows)
# RMST at a tau that is an event time, and beyond the last time
f <- survfit(Surv(time, status) ~ 1, data = d)
for (tau in c(10, 60)) {
  tab <- summary(f, rmean = tau)$table
  out <- rbind(out, data.frame(variant = paste0("loglog_tau", tau), tau = tau,
                               rmean = tab[["rmean"]], se_rmean = tab[["se(rmean)"]]))
}
write.csv(out, "tests/r/survival_km_rmst.csv", row.names = FALSE)
cat(R.version.string, " survival", as.character(packageVersion("survival")), "\n")
