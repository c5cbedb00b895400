# Reference values for the PH test in tests/test_survival_cox.py.
# Run from the repository root: Rscript tests/r/survival_zph.R
# cox.zph(transform = "km", terms = TRUE), survival 3.5.3 (score-test form).
# Writes tests/r/survival_zph_reference.csv and survival_zph_residuals.csv.
suppressPackageStartupMessages(library(survival))
d <- read.csv("tests/fixtures/survival_cox.csv")
cp <- read.csv("tests/fixtures/survival_counting.csv")
# Rossi et al. recidivism data, exported from lifelines.datasets.load_rossi()
rossi <- read.csv("tests/fixtures/survival_rossi.csv")
ctl <- coxph.control(eps = 1e-11, toler.chol = 1e-12, iter.max = 100)
fits <- list(
  efron = coxph(Surv(time, status) ~ x1 + x2 + x3, data = d, control = ctl),
  breslow = coxph(Surv(time, status) ~ x1 + x2 + x3, data = d, ties = "breslow", control = ctl),
  efron_weighted = coxph(Surv(time, status) ~ x1 + x2 + x3, data = d, weights = weight,
                         control = ctl),
  efron_strata = coxph(Surv(time, status) ~ x1 + x2 + x3 + strata(stratum), data = d,
                       control = ctl),
  counting = coxph(Surv(start, stop, status) ~ x1 + z, data = cp, control = ctl),
  rossi = coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio, data = rossi,
                control = ctl)
)
rows <- list()
for (nm in names(fits)) {
  z <- cox.zph(fits[[nm]], transform = "km", terms = TRUE)
  tb <- z$table
  rows[[nm]] <- data.frame(variant = nm, term = rownames(tb), chisq = tb[, "chisq"],
                           df = tb[, "df"], p = tb[, "p"])
}
write.csv(do.call(rbind, rows), "tests/r/survival_zph_reference.csv", row.names = FALSE)
z <- cox.zph(fits$efron, transform = "km")
res <- data.frame(time = z$time, x = z$x, z$y)
write.csv(res, "tests/r/survival_zph_residuals.csv", row.names = FALSE)
