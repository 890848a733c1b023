"""Deep Image Prior, and its meeting with DDPM (the course's second assignment, dip-homework.md).

network.py (the paper's hourglass), images.py (test images, noise, masks), fit.py (the fitting
loop and its record), stopping.py (when to stop), rules.py (what a stopping rule sees and returns,
and the published rules), progressive.py (diffusion-style targets and the estimate they give),
recorrupted.py (the rules that estimate gives), sure.py (Stein's estimate), classical.py
(scikit-image's and BM3D's denoisers), plugins.py (a rule or start of your own, by name),
study.py (the stopping study), restore.py (the reverse process from a noised start), starts.py
(the start study); commands: denoise.py (one image), run_study.py (make bench-dip), run_starts.py
(the start study's tables). Instructors only, not in the handout: variations.py and
variations_tables.py (the homework's other directions, make bench-dip-variations).
"""
