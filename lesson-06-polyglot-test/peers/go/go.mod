module tcplessons/lesson06/peers

go 1.19
