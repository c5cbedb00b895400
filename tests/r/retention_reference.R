# Reference values for tests/test_retention_r.py (run from the repository root):
#   Rscript tests/r/retention_reference.R
# R 4.x, survival 3.5.x, cmprsk 2.2.11. Writes retention_cuminc_reference.csv and
# retention_median_reference.csv next to this script.
library(survival)
library(cmprsk)
d <- read.csv("tests/fixtures/retention_cuminc_fixture.csv", stringsAsFactors = FALSE)
causes <- sort(unique(d$end_reason[d$event == 1]))          # cause codes 1..k in sorted order
code <- ifelse(d$event == 1, match(d$end_reason, causes), 0)
months <- c(3, 6, 12, 24)
tp <- months * 365.25 / 12
ci <- cuminc(d$time, code, cencode = 0)
tt <- timepoints(ci, tp)
out <- data.frame()
for (k in seq_along(causes)) {
  nm <- paste("1", k)
  out <- rbind(out, data.frame(reason = causes[k], months = months,
                               estimate = as.numeric(tt$est[nm, ]), variance = as.numeric(tt$var[nm, ])))
}
write.csv(out, "tests/r/retention_cuminc_reference.csv", row.names = FALSE)
fit <- survfit(Surv(time, event) ~ 1, data = d, conf.type = "log-log")
q <- quantile(fit, probs = 0.5)
med <- data.frame(median = as.numeric(q$quantile), lower = as.numeric(q$lower), upper = as.numeric(q$upper),
                  s6 = summary(fit, times = tp[2])$surv, s6_lower = summary(fit, times = tp[2])$lower,
                  s6_upper = summary(fit, times = tp[2])$upper)
write.csv(med, "tests/r/retention_median_reference.csv", row.names = FALSE)
print(out); print(med)
