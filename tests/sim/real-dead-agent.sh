#!/bin/sh
# A stand-in for outpost-agent that never ships anything (sim_real_negative):
# real mode's checks must then fail, or they prove nothing.
exec sleep 600
