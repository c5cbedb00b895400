# Reference values for tests/test_cox_near_separation.py: the hazard ratio on the at-risk clock
# (hazard_ratio_at_risk_clock, Cox on time_at_risk = days at liberty) next to the calendar-clock one.
# Run from the repository root: Rscript tests/r/at_risk_clock.R > tests/r/at_risk_clock.Rout 2>&1
# Reads tests/r/at_risk_clock_data.csv (made by tests/r/at_risk_clock_fixture.py), writes
# tests/r/at_risk_clock_reference.csv. rct: unweighted, model SE; matched: matching weights and
# robust SE clustered on the matched set, as RecidivismAnalysis does.
suppressPackageStartupMessages(library(survival))
d <- read.csv("tests/r/at_risk_clock_data.csv", stringsAsFactors = FALSE)
rows <- list()
for (des in c("rct", "matched")) {
  x <- d[d$design == des, ]
  for (clock in c("time", "time_at_risk")) {
    f <- as.formula(paste0("Surv(", clock, ", event) ~ treated"))
    fit <- if (des == "rct") coxph(f, data = x, ties = "efron") else
      coxph(f, data = x, ties = "efron", weights = weight, cluster = cluster)
    s <- summary(fit, conf.int = 0.95)
    print(des); print(clock); print(s)
    rows[[length(rows) + 1]] <- data.frame(design = des, clock = clock, hr = s$conf.int[1, 1],
      ci_lower = s$conf.int[1, 3], ci_upper = s$conf.int[1, 4],
      p_value = s$coefficients[1, ncol(s$coefficients)], n = fit$n, events = fit$nevent)
  }
}
out <- do.call(rbind, rows)
print(out, digits = 12)
write.csv(out, "tests/r/at_risk_clock_reference.csv", row.names = FALSE)
